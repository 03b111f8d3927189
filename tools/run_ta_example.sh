#!/usr/bin/env bash
# The one command that installs what is needed, builds FitNN and fits the Ta example.
# Outputs land in examples/Ta/run/ (metrics, loss_vs_epochs.dat, peratom.dat, ...).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install_deps.sh"
"$root/tools/build.sh"
mkdir -p "$root/examples/Ta/run"
cd "$root/examples/Ta/run"
# dataPath is relative to the input file's folder, outputs go to the current one (as FitSNAP).
"$root/build/fitnn" --overwrite "$@" ../Ta-example.in
