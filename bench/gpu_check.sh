#!/usr/bin/env bash
# Everything harness measures on a GPU, in one call, from the repository root of a machine with
# one CUDA GPU (the workplace's H200 lends 15 minutes: this must end within 8, so a rerun fits).
#
#   bash bench/gpu_check.sh            # on the GPU machine: $OUT gets gpu_check.json and gpu_check.log
#   bash bench/gpu_check.sh --dry-run  # anywhere (CI): every step checked without a GPU, in seconds
#
# Steps, each under its own time limit (seconds), each recorded with its exit status and time:
#   install      the Python packages a bare GPU image lacks (optuna, fvcore, ...), from the wheels
#                in .whl/ (bench/gpu_wheels.sh fetches them here), into /tmp/site; harness itself
#                is read from this checkout (PYTHONPATH)
#   machine      nvidia-smi, torch's CUDA build, the GPU's name
#   tests        tests/test_cuda.py, then the CPU/GPU-sensitive tests (device, fast path, loader)
#   speed        bench/train_speed.py --compile --k 1,4: harness vs a bare loop, MFU against the
#                measured bf16 GEMM rate, torch.compile's break-even, 4 trials at once on one GPU
#   mps          the same k part under CUDA MPS (nvidia-cuda-mps-control), where the image has it
#   loader       bench/data.py: resident vs streamed batches on the GPU
# Then bench/gpu_summary.py reads what they wrote and checks the targets: harness/bare >= 0.95,
# ResNet-18-CIFAR MFU >= 25% of the measured bf16 GEMM rate, k small trials per GPU >= 3x one.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
STEPS="$OUT/steps.jsonl"
: >"$LOG"
: >"$STEPS"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"

# step NAME LIMIT_S COMMAND...: run it (or, dry, its DRY_COMMAND), log it, record rc and seconds.
step() {
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s.%N)
  echo "=== $name (limit ${limit} s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  rc=$?
  local secs
  secs=$(python3 -c "import sys; print(round($(date +%s.%N) - float(sys.argv[1]), 1))" "$start")
  echo "=== $name: exit $rc after $secs s" | tee -a "$LOG"
  printf '{"step": "%s", "rc": %d, "seconds": %s, "limit": %d}\n' "$name" "$rc" "$secs" "$limit" >>"$STEPS"
}

install() {
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  fi
  python3 -c "import optuna, fvcore, pandas, seaborn, yaml; print('optuna', optuna.__version__)"
}

machine() {
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda,
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
}

mps() {
  if ! command -v nvidia-cuda-mps-control >/dev/null; then
    echo "nvidia-cuda-mps-control is not on this image: no MPS figure"
    return 3
  fi
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d || return 4
  python3 bench/train_speed.py --device cuda --specs none --k 1,4 --json "$OUT/train_speed_mps.json"
  local rc=$?
  echo quit | nvidia-cuda-mps-control
  return $rc
}

if [ "$DRY" = 1 ]; then
  # No GPU: check that every step's program starts, its options parse and the tests collect; then
  # that the summary reads a run's records (these, with no figures: every target "not measured").
  export OUT
  step install 60 python3 -c "import optuna, fvcore, pandas, seaborn, yaml"
  step machine 30 python3 -c "import torch; print('torch', torch.__version__)"
  step tests 60 python3 -m pytest -q --collect-only tests/test_cuda.py tests/test_device.py tests/test_fast_path.py
  step speed 30 python3 bench/train_speed.py --help
  step mps 10 bash -n bench/gpu_check.sh
  step loader 30 python3 bench/data.py --help
  python3 bench/gpu_summary.py "$OUT" --dry-run | tee -a "$LOG"
  exit "${PIPESTATUS[0]}"
fi

# Limits: 470 s in all, under the 8 minutes a 15-minute device budget allows twice.
step install 60 install
step machine 20 machine
step tests 120 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_device.py \
  tests/test_fast_path.py tests/test_loader.py
step speed 180 python3 bench/train_speed.py --device cuda --repeats 2 --compile --k 1,4 \
  --json "$OUT/train_speed.json"
step mps 50 mps
step loader 40 python3 bench/data.py --device cuda --json "$OUT/loader.json"
python3 bench/gpu_summary.py "$OUT" | tee -a "$LOG"
