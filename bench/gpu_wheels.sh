#!/usr/bin/env bash
# Fetch, on a machine with PyPI, the wheels that bench/gpu_check.sh installs on a bare GPU image
# (Python 3.12, x86-64; it has torch, pandas, seaborn, pyyaml, tqdm, portalocker, tabulate but not
# Optuna or fvcore), into .whl/ at the repository root (ignored by git; carry it to the machine).
# fvcore and iopath are published as source only: they are built into wheels here (pure Python).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>"$(git rev-parse --git-common-dir)/info/exclude"
platforms=()
for n in 2_28 2_27 2_17 2014 1; do
  case $n in 2014) platforms+=(--platform manylinux2014_x86_64) ;; 1) platforms+=(--platform manylinux1_x86_64) ;;
    *) platforms+=(--platform "manylinux_${n}_x86_64") ;; esac
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl optuna==5.0.0 alembic==1.20.1 SQLAlchemy==2.1.9 greenlet Mako==1.4.3 \
  colorlog==6.12.0 yacs==0.1.8 termcolor==3.3.0
python3 -m pip wheel -q --no-deps -w .whl fvcore==0.1.5.post20221221 iopath==0.1.10
ls -1 .whl
