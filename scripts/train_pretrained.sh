#!/usr/bin/env bash
# Reproduce spectral_cvae/data/pretrained.keras: the physics-aware CVAE trained on the shipped
# starter grid and packed reference grids of more SYNSPEC base models, then measured on the
# stars its split held out, with the numbers and this command stored in the model file.
#
# Usage: scripts/train_pretrained.sh REFERENCE_GRID.h5 [MORE_PACKED_BASE_GRIDS.h5 ...]
# Options of `spectral-cvae train-physics` can be added in TRAIN_OPTIONS (e.g. "--epochs 3000").
set -euo pipefail
cd "$(dirname "$0")/.."
out=artifacts/pretrained
mkdir -p "$out"
grids=()
names=()
for grid in "$@"; do
    grids+=(--base-grid "$grid")
    names+=(--base-grid "$(basename "$grid")")
done
# shellcheck disable=SC2086
.venv/bin/spectral-cvae train-physics --out "$out/pretrained.keras" --seed 0 "${grids[@]}" \
    ${TRAIN_OPTIONS:-} --quiet
# The command as recorded in the model: file names, not this machine's paths.
recorded="spectral-cvae train-physics --out pretrained.keras --seed 0 ${names[*]} ${TRAIN_OPTIONS:-} --quiet"
.venv/bin/python benchmarks/accuracy.py --model "$out/pretrained.keras" "${grids[@]}" \
    --draws 8 --seed 1 --json "$out/accuracy.json"
.venv/bin/python - "$out" "$recorded" "${names[*]}" <<'PY'
import json
import sys
from pathlib import Path

from spectral_cvae.pretrained import record_test_numbers

out, command, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
accuracy = json.loads((out / "accuracy.json").read_text())
accuracy["command"] = (
    f"python benchmarks/accuracy.py --model pretrained.keras {names} --draws 8 --seed 1"
)
print("wrote", record_test_numbers(out / "pretrained.keras", accuracy, command))
PY
