#!/usr/bin/env bash
# Check the suite on a machine with one GPU, in under 8 minutes:
#   1. the devices TensorFlow sees, the CUDA/cuDNN versions of its build, and the first GPU work timed apart
#      (CUDA context, kernel loading and, on a GPU the build has no kernels for, e.g. an H100, the JIT
#      compilation of PTX);
#   2. the tests of the execution options (tests/test_distribute.py: strategies, mixed precision, XLA), on the GPU;
#   3. the paper-scale ResNet-50 training step at batch 256 under float32, mixed float16, XLA and both,
#      beside NVIDIA's published ResNet-50 throughput (benchmarks/gpu_check.py resnet50);
#   4. the mini grid of the paper whose committed mini grid is the shortest, with its wall time;
# then a summary table (part, status, time, note), and a non-zero exit if a part failed.
#
# Without a GPU (CI, the 2-core development machines) it runs as well: the GPU-only parts say
# "skipped (no GPU)", the ResNet-50 step is timed on the CPU at a reduced batch, and the grid is the
# smoke scale of the same paper (its mini grid takes about 12 minutes on 2 cores).
#
#   bash scripts/gpu_check.sh           # prints Markdown: bash scripts/gpu_check.sh | tee gpu_check.md
#   bash scripts/gpu_check.sh --fast    # the same parts, each cut to seconds (tests/test_gpu_check.py)
#
# The driver's compute cache (compiled PTX) is kept for every process of the check and for later runs in
# CUDA_CACHE_PATH (default ~/.cache/transfer-repro/cuda-compute-cache, at most CUDA_CACHE_MAXSIZE = 4 GiB,
# the driver's maximum; its default of 256 MiB is too small for TensorFlow's kernels, so they would be
# compiled again at every start).
set -uo pipefail
cd "$(dirname "$0")/.."

FAST=0
for arg in "$@"; do
  case "$arg" in
    --fast) FAST=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $arg (accepted: --fast)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code
export CUDA_CACHE_PATH="${CUDA_CACHE_PATH:-${XDG_CACHE_HOME:-$HOME/.cache}/transfer-repro/cuda-compute-cache}"
export CUDA_CACHE_MAXSIZE="${CUDA_CACHE_MAXSIZE:-4294967296}"
export CUDA_CACHE_DISABLE=0
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
mkdir -p "$CUDA_CACHE_PATH"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PARTS=() STATUSES=() TIMES=() NOTES=()
FAILED=0
STARTED=$(date +%s.%N)

elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
result() { grep "^RESULT $2=" "$1" | tail -1 | cut -d= -f2-; }
record() {  # part status seconds note
  PARTS+=("$1"); STATUSES+=("$2"); TIMES+=("$3"); NOTES+=("$4")
  [ "$2" = failed ] && FAILED=1
  return 0
}
NOISE="^RESULT |oneDNN custom operations|absl::InitializeLog|cpu_feature_guard|rebuild TensorFlow with the appropriate"
run_part() {  # [--markdown] log-file command...: runs the command, shows its output (in a text block), returns its exit code
  local fence=1
  [ "$1" = --markdown ] && { fence=0; shift; }
  local log="$1"; shift
  [ "$fence" = 1 ] && echo '```text'
  "$@" 2>&1 | sed "s#$PWD/##g; s#$HOME#~#g" | tee "$log" | grep -v -E "$NOISE"
  local rc=${PIPESTATUS[0]}
  [ "$fence" = 1 ] && echo '```'
  return "$rc"
}

echo "# GPU check: \`bash scripts/gpu_check.sh$([ "$FAST" = 1 ] && echo ' --fast')\`"
echo
echo "- commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- repro 2>/dev/null || echo ', repro/ modified'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPU cores, $("$PY" --version 2>&1)"
echo "- uptime at start: \`$(uptime)\`"
echo "- CUDA_CACHE_PATH=${CUDA_CACHE_PATH/#$HOME/\~} (CUDA_CACHE_MAXSIZE=$CUDA_CACHE_MAXSIZE)"
echo

# ----------------------------------------------------------------------------- 1. devices
echo "## 1. Devices"
echo
if command -v nvidia-smi >/dev/null 2>&1; then
  run_part "$WORK/smi.log" nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
fi
t=$(date +%s.%N)
if run_part "$WORK/devices.log" "$PY" benchmarks/gpu_check.py devices; then
  GPUS=$(result "$WORK/devices.log" gpus); GPUS=${GPUS:-0}
  versions=$(grep -o "CUDA build: .*; compiled" "$WORK/devices.log" | sed 's/; compiled//')
  if [ "$GPUS" -gt 0 ]; then
    record "1. devices" ok "$(elapsed "$t")" "$GPUS GPU(s): $(grep -o '^/physical_device:GPU:0: [^,]*' "$WORK/devices.log" | cut -d' ' -f2-); $versions"
    ptx=$(result "$WORK/devices.log" ptx_only)
    record "1b. first GPU work" ok "$(result "$WORK/devices.log" first_gpu_s)" \
      "CUDA context + kernel loading$([ "$ptx" = 1 ] && echo ' + PTX JIT (no kernels for this GPU in the build; cached for the next start)'), timed apart"
  else
    record "1. devices" ok "$(elapsed "$t")" "no GPU: CPU only; $versions"
    record "1b. first GPU work" "skipped (no GPU)" "-" "first start (CUDA context, PTX JIT) needs a GPU"
  fi
else
  GPUS=0
  record "1. devices" failed "$(elapsed "$t")" "TensorFlow did not start (see above)"
  record "1b. first GPU work" skipped "-" "no device list"
fi
echo

# ----------------------------------------------------------------------------- 2. tests
echo "## 2. Tests of the execution options (tests/test_distribute.py)"
echo
TESTS=(tests/test_distribute.py)
[ "$FAST" = 1 ] && TESTS+=(-k "unknown or outside or float16_uses or gpu")
t=$(date +%s.%N)
if [ "$GPUS" -gt 0 ]; then
  # On the GPU: exact float32 for the tests that compare within 1e-5 (no TF32), memory grown as needed since the
  # test process and its workers share the device; the GPU placement test must not skip.
  TEST_ENV=(env NVIDIA_TF32_OVERRIDE=0 TF_FORCE_GPU_ALLOW_GROWTH=true REPRO_REQUIRE_GPU=1)
  where="on the GPU (the two-replica and two-worker tests on the CPU: one GPU holds one replica)"
else
  TEST_ENV=(env)
  where="on the CPU (no GPU)"
fi
if run_part "$WORK/tests.log" "${TEST_ENV[@]}" "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}"; then
  record "2. execution-option tests" ok "$(elapsed "$t")" "$(grep -E '[0-9]+ passed' "$WORK/tests.log" | tail -1 | sed 's/=//g;s/^ *//;s/ *$//') $where"
else
  record "2. execution-option tests" failed "$(elapsed "$t")" "$(grep -E '[0-9]+ (passed|failed)' "$WORK/tests.log" | tail -1 | sed 's/=//g;s/^ *//;s/ *$//') $where; see above"
fi
echo

# ----------------------------------------------------------------------------- 3. ResNet-50
echo "## 3. ResNet-50 training step (224x224x3, 1000 classes)"
echo
if [ "$FAST" = 1 ]; then
  R50=(--batch 2 --steps 1 --cpu-batch 2 --cpu-steps 1 --settings float32)
else
  R50=(--batch 256 --steps 20 --cpu-batch 8 --cpu-steps 2)
fi
t=$(date +%s.%N)
if run_part --markdown "$WORK/resnet50.log" "$PY" benchmarks/gpu_check.py resnet50 "${R50[@]}"; then
  status=ok
else
  status=failed
fi
summary=$(result "$WORK/resnet50.log" summary | sed 's/^"//;s/"$//')
batch=$(result "$WORK/resnet50.log" batch)
if [ "$status" = failed ]; then
  record "3. ResNet-50 step" failed "$(elapsed "$t")" "see above${summary:+; $summary}"
elif [ "$GPUS" -gt 0 ]; then
  record "3. ResNet-50 step" "$status" "$(elapsed "$t")" "batch $batch: $summary"
else
  record "3. ResNet-50 step" "$status" "$(elapsed "$t")" "on the CPU at batch $batch (batch 256 is minutes a step on the CPU): $summary; mixed float16 skipped (no GPU)"
fi
echo

# ----------------------------------------------------------------------------- 4. the shortest mini grid
echo "## 4. The shortest paper's grid"
echo
run_part "$WORK/shortest.log" "$PY" benchmarks/gpu_check.py shortest >/dev/null
PAPER=$(result "$WORK/shortest.log" paper); PAPER=${PAPER:-chen2022}
grep -v "^RESULT" "$WORK/shortest.log" | sed 's/^/    /'
echo
if [ "$GPUS" -gt 0 ] && [ "$FAST" = 0 ]; then
  SCALE=mini; why="the mini grid on the GPU"
else
  SCALE=smoke; why=$([ "$GPUS" -gt 0 ] && echo "--fast: smoke scale" || echo "no GPU: the smoke-scale grid instead of the mini one")
fi
GRID=("$PY" -m repro.cli run "$PAPER" --scale "$SCALE" --out "$WORK/grid")
if [ "$FAST" = 1 ]; then  # one run of the smoke grid with the fewest dependencies (and those)
  GRID+=(--only "$("$PY" -m repro.cli run "$PAPER" --scale smoke --dry-run --json 2>/dev/null | "$PY" -c '
import json, re, sys
run = min(json.load(sys.stdin), key=lambda r: len(r.get("needs", [])))
print("^" + re.escape(run["key"]) + "$")' 2>/dev/null || echo .)")
fi
echo "\`repro run $PAPER --scale $SCALE$([ "$FAST" = 1 ] && echo " --only '${GRID[-1]}'")\` ($why):"
echo
t=$(date +%s.%N)
if run_part "$WORK/grid.log" "${GRID[@]}"; then
  record "4. $PAPER $SCALE grid" ok "$(elapsed "$t")" "$why; $(grep -o 'done: [0-9]* runs' "$WORK/grid.log" | tail -1)"
else
  record "4. $PAPER $SCALE grid" failed "$(elapsed "$t")" "$why; see above"
fi
echo

# ----------------------------------------------------------------------------- summary
echo "## Summary"
echo
echo "| part | status | time s | note |"
echo "|---|---|---|---|"
for i in "${!PARTS[@]}"; do
  echo "| ${PARTS[$i]} | ${STATUSES[$i]} | ${TIMES[$i]} | ${NOTES[$i]} |"
done
echo
echo "- total wall time $(elapsed "$STARTED") s; uptime at end: \`$(uptime)\`"
if [ "$FAILED" = 1 ]; then
  echo "- **a part failed**"
  exit 1
fi
