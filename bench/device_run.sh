#!/usr/bin/env bash
# One lease's work on a GPU machine, from the repository root, with build/release carried:
# the gpu tests, then the benchmark, logs and JSON under $OUT (or ./out). Usage:
#   bench/device_run.sh [tests ARGS...] [bench ARGS...] [sweep ARGS...] [breakdown ARGS...] [profile ARGS...] [lnl ARGS...] [transition ARGS...] [mlir ARGS...] [python ARGS...] [pairformer ARGS...] [rows M,D,E...]
# python: the mfjit package's tests (python/tests) on cuda and cpu, pytest ARGS.
# pairformer: bench/pairformer.py ARGS (a Pairformer block's training step beside torch).
# rows: the Transition's mfjit forward+backward at each M,D,E in its own process (a crash
# ends only that one), then compute-sanitizer over the first that failed.
# mlir: the MLIR generator's GPU kernels (MFJIT_CUDA_GENERATOR=mlir): the gpu tests'
# matrices, then bench/evo_attention.py --impls mfjit ARGS, to set beside a bench run of
# the template kernels.
# profile: Nsight Compute (hardware counters; --clock-control none leaves the clocks alone)
# over one forward+backward of kernel_breakdown.py ARGS, and the SASS of every kernel the
# run compiled (from the binary cache), for counting instructions per score.
# build: configures and builds build/release on the GPU machine itself (16 cores, a few
# minutes) without the MLIR generator (-DMF_MLIR=OFF needs no LLVM there), from the Debian
# -dev packages that bench/gpu_deps.sh puts into .gpu/debs (carry ".gpu"); the carry then
# has room for peers' wheels.
# peers: installs the wheels bench/gpu_deps.sh packed into .gpu/wheels.tar.xz (cuEquivariance)
# into /tmp/site and puts it on PYTHONPATH for the sections after it.
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
  while [ $# -gt 0 ] && [[ ! $1 =~ ^(build|peers|tests|bench|breakdown|sweep|profile|lnl|transition|mlir|python|pairformer|rows)$ ]]; do args+=("$1"); shift; done
  case $section in
    build)
      deps=/tmp/mf_deps
      mkdir -p $deps && for f in .gpu/debs/*.deb; do dpkg -x "$f" $deps; done
      export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
      { cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMF_MLIR=OFF \
          -DCMAKE_PREFIX_PATH="$deps/usr;$deps/usr/lib/x86_64-linux-gnu/cmake" \
          -DSQLite3_INCLUDE_DIR=$deps/usr/include -DSQLite3_LIBRARY=$deps/usr/lib/x86_64-linux-gnu/libsqlite3.so \
          "-DCMAKE_CXX_FLAGS=-isystem $deps/usr/include" \
          "${args[@]}" && cmake --build build/release -j 16; } > "$out/build.log" 2>&1 \
        || { tail -30 "$out/build.log"; exit 1; }
      tail -1 "$out/build.log" ;;
    peers)
      mkdir -p /tmp/site/wheels && tar -C /tmp/site/wheels -xJf .gpu/wheels.tar.xz \
        && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
             /tmp/site/wheels/*.whl > "$out/peers.log" 2>&1 || { tail -5 "$out/peers.log"; status=1; }
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
      python3 -c 'import cuequivariance_torch; print("cuequivariance_torch", cuequivariance_torch.__version__)' \
        || status=1 ;;
    tests)
      # MF_TESTS_TIMEOUT (seconds) bounds the section, so that the sections after it still run.
      timeout "${MF_TESTS_TIMEOUT:-3000}" build/release/tests/mf_gpu_tests --gtest_brief=0 "${args[@]}" 2>&1 \
        | tee "$out/gpu_tests.log" \
        | grep -v '^\[case\].* ok$' || status=1 ;;
    bench)
      PYTHONUNBUFFERED=1 python3 bench/evo_attention.py --json "$out/evo.json" "${args[@]}" 2>&1 \
        | tee "$out/bench.log" || status=1 ;;
    sweep)
      PYTHONUNBUFFERED=1 python3 bench/sweep_configs.py --json "$out/sweep.json" "${args[@]}" 2>&1 \
        | tee "$out/sweep.log" || status=1 ;;
    lnl)
      PYTHONUNBUFFERED=1 python3 bench/layer_norm_linear.py --json "$out/lnl.json" "${args[@]}" 2>&1 \
        | tee "$out/lnl.log" || status=1 ;;
    transition)
      PYTHONUNBUFFERED=1 python3 bench/transition.py --json "$out/transition.json" "${args[@]}" 2>&1 \
        | tee "$out/transition.log" || status=1 ;;
    mlir)
      MFJIT_CUDA_GENERATOR=mlir build/release/tests/mf_gpu_tests --gtest_brief=0 \
        --gtest_filter='*AcrossTheMatrix:*FullyMaskedRowsGiveZeros:*Deterministic*' 2>&1 \
        | tee "$out/mlir_gpu_tests.log" | grep -v '^\[case\].* ok$' || status=1
      MFJIT_CUDA_GENERATOR=mlir PYTHONUNBUFFERED=1 python3 bench/evo_attention.py --impls mfjit \
        --json "$out/mlir_evo.json" "${args[@]}" 2>&1 | tee "$out/mlir_bench.log" || status=1 ;;
    python)
      MFJIT_LIBRARY=$PWD/build/release/runtime/libmfjit.so PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q \
        -p no:cacheprovider python/tests "${args[@]}" 2>&1 | tee "$out/python_tests.log" | tail -40 || status=1 ;;
    pairformer)
      PYTHONUNBUFFERED=1 python3 bench/pairformer.py --json "$out/pairformer.json" "${args[@]}" 2>&1 \
        | tee "$out/pairformer.log" || status=1 ;;
    rows)
      failed=""
      for shape in "${args[@]}"; do
        if ! python3 bench/transition.py --impls mfjit --shapes "$shape" > "$out/rows_$shape.log" 2>&1; then
          echo "rows $shape: FAILED"; tail -5 "$out/rows_$shape.log"; failed=${failed:-$shape}; status=1
        else
          echo "rows $shape: ok"; tail -2 "$out/rows_$shape.log"
        fi
      done
      if [ -n "$failed" ]; then
        compute-sanitizer --print-limit 5 python3 bench/transition.py --impls mfjit --shapes "$failed" \
          --warmup-ms 1 --rep-ms 1 > "$out/sanitizer.txt" 2>&1
        grep -m 40 -E "Invalid|at |by thread|Address|ERROR SUMMARY|mf_" "$out/sanitizer.txt"
      fi ;;
    breakdown)
      PYTHONUNBUFFERED=1 python3 bench/kernel_breakdown.py --json "$out/breakdown.json" "${args[@]}" 2>&1 \
        | tee "$out/breakdown.log" || status=1 ;;
    profile)
      cache=$(mktemp -d)
      MFJIT_CACHE_DIR=$cache ncu --clock-control none -k regex:'mf_evo_(forward|backward_keys|backward_queries)' \
        --launch-skip 3 --launch-count 3 --section SpeedOfLight --section MemoryWorkloadAnalysis \
        --section ComputeWorkloadAnalysis --section Occupancy --section LaunchStats --section WarpStateStats \
        --section SchedulerStats --section InstructionStats \
        python3 bench/kernel_breakdown.py --reps 1 "${args[@]}" > "$out/ncu.txt" 2>&1 || status=1
      grep -E 'mf_evo|Duration|Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|No Eligible|Issued Warp' \
        "$out/ncu.txt" | head -80
      for f in $(find "$cache" -type f -path "*kernels*"); do echo "== $f"; tail -c +53 "$f" > "$f.cubin" && cuobjdump --dump-sass "$f.cubin"; done > "$out/sass.txt" 2>&1 ;;
  esac
done
exit $status
