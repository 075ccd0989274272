#!/usr/bin/env bash
# The GPU checks and figures on the GPU machine (tests/gpu/pack.sh copies it
# into .gpu/): the device test suites on its GPUs, every benchmark suite (JSON
# under $OUT, or ./gpu-out), and the stack at other sizes.
source .gpu/env.sh
out=${OUT:-gpu-out}
mkdir -p "$out"
nvidia-smi -L 2>/dev/null; clinfo -l
status=0
for suite in stack coadd gemm; do
  PLX_TEST_DEVICE_TYPES=gpu plx_unit_${suite}_device > "$out/tests_$suite.log" 2>&1 || status=1
  echo "device tests, $suite: $(grep -E 'PASSED|FAILED' "$out/tests_$suite.log" | tr '\n' ' ')"
done
for suite in stack coadd gemm device; do
  parallax bench --suite $suite --json > "$out/$suite.json" || status=1
done
for size in "32 1024 1024" "64 1024 1024" "48 1920 1080" "8 2048 2048" "100 1024 1024"; do
  plx_gpu_stack_sizes $size || status=1
done
grep -hoE '"(gpu_[a-z_]+|sigma_clip_s|coadd_s|device_gflops|cached_first_call_s|[a-z0-9_]+_gbps)": *[0-9.e-]+' "$out"/*.json
exit $status
