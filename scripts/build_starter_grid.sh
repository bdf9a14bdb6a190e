#!/usr/bin/env bash
# The recorded build of the embedded starter grid, spectral_cvae/data/starter-grid.h5.
#
# 600 base models (Teff, log g, [M/H], xi_t) from a scrambled Sobol sequence (seed 2025) over
# the paper's ranges, SYNSPEC at 4440-5410 A, kept at 0.02 A. About 10-30 s of CPU per model:
# run it again after an interruption and it continues where it stopped. Packing takes what is
# finished, so a build cut short still gives a usable (smaller) starter grid.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/spectral-cvae synspec install
mkdir -p build/starter
nice -n 10 $BIN/spectral-cvae grid build --n-models 600 --method sobol --seed 2025 \
    --out build/starter/starter.h5 --base-out build/starter/starter-base.h5 \
    --draws-per-model 0 --workers 2 || echo "base grid unfinished: packing what is done"
$BIN/python -c "from spectral_cvae.starter import pack_starter; print(pack_starter('build/starter/starter-base.h5'))"
