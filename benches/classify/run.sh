#!/usr/bin/env bash
# Opt-in: triage's classifier against scikit-learn's (issue #20). Makes a
# virtual environment with scikit-learn beside this script, builds triage,
# and compares on one seeded data set and one train/test split.
# Usage: benches/classify/run.sh [--cases N] [--seed S] [--label category]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install -q scikit-learn
fi
cargo build --release -q -p triage-cli
"$here/.venv/bin/python" "$here/compare.py" "$@"
