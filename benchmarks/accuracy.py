"""Accuracy of a generator on stars it never saw, in the paper's 19,000 pixels.

Every base model of the given base grids that the model saw neither in training nor in
validation (its recorded training stars) is broadened to fresh (v sin i, R) draws, and
|Delta F| is reported overall and by v sin i, R and Teff, with z = 0 and with z ~ N(0, I)::

    python benchmarks/accuracy.py --model model.keras --base-grid reference-sobol101.h5 \
        --draws 8 --json accuracy.json

The starter grid is always included. The JSON holds the command, the date, the model file's
sha256 and the base grids' sha256 with the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from spectral_cvae.evaluation.breakdown import breakdown_table, format_table, residual_breakdown
from spectral_cvae.grid import unseen_stars
from spectral_cvae.model import SpectrumGenerator, load_base_grids
from spectral_cvae.provenance import file_sha256, recorded_training_keys


def measure(
    model_path: Path, base_grids: list[Path], draws: int, seed: int, max_models: int | None
) -> dict:
    """The residual table of one model on its unseen stars."""
    generator = SpectrumGenerator.load(model_path)
    base = load_base_grids(base_grids)
    keys = recorded_training_keys(generator.provenance)
    if keys is None:
        raise SystemExit(f"{model_path}: the model recorded no training stars")
    held_out = unseen_stars(
        base,
        keys,
        draws_per_model=draws,
        seed=seed,
        wavelength=generator.wavelength,
        max_models=max_models,
    )
    start = time.perf_counter()
    breakdown = residual_breakdown(generator, held_out, seed=seed)
    return {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"file": model_path.name, "sha256": file_sha256(model_path)},
        "base_grids": base.provenance["base_grids"],
        "unseen_base_models": held_out.provenance.get("unseen_stars", {}).get("base_models"),
        "test_spectra": held_out.n_spectra,
        "draws_per_model": draws,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "breakdown": breakdown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--base-grid", type=Path, action="append", default=[])
    parser.add_argument("--draws", type=int, default=8, help="(v sin i, R) draws per star")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-models", type=int, help="at most this many unseen stars")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = measure(args.model, args.base_grid, args.draws, args.seed, args.max_models)
    for grid in result["base_grids"]:
        print(f"base grid {grid['file']}: {grid['n_models']} models, sha256 {grid['sha256']}")
    print(
        f"{result['model']['file']}: {result['test_spectra']} spectra of "
        f"{result['unseen_base_models']} stars never trained on ({args.draws} draws each)"
    )
    print(format_table(*breakdown_table(result["breakdown"])))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
