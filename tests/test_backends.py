"""The model on every Keras backend: a file saved under one loads under another."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from spectral_cvae.model import CVAE, SpectrumGenerator
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import tiny_config

OTHER = {"tensorflow": "jax", "jax": "tensorflow"}
POINTS = [
    [5800.0, 4.4, 2.0, 0.0, 1.0, 50000.0],
    [9000.0, 3.0, 150.0, -1.0, 3.0, 2000.0],
    [4500.0, 2.5, 40.0, 0.8, 0.5, 110000.0],
]

# Run under the other backend: generate from our file (noting whether that imported
# TensorFlow), then save a model of its own and its spectra.
OTHER_SIDE = """
import json, sys
import numpy as np
from spectral_cvae.model import CVAE, SpectrumGenerator
from spectral_cvae.parameters import PAPER_SPACE
from tests.helpers import tiny_config

ours, theirs, points = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
generator = SpectrumGenerator.load(ours)
np.save(theirs + ".from-ours.npy", generator.generate(points))
np.save(theirs + ".sampled.npy", generator.sample(points, 4, seed=3).mean)
tensorflow_imported = "tensorflow" in sys.modules
metadata = {"wavelength": generator.wavelength.tolist(), "space": PAPER_SPACE.to_dict()}
model = CVAE(tiny_config(), generator.n_pixels, seed=5, metadata=metadata)
model.build_all()
mine = SpectrumGenerator(model)
mine.save(theirs)
np.save(theirs + ".own.npy", mine.generate(points))
print(json.dumps({"backend": __import__("keras").backend.backend(),
                  "tensorflow_imported": tensorflow_imported}))
"""


def other_backend() -> str:
    """The backend to cross-check with; skipped outside CI when it is not installed."""
    other = OTHER.get(keras.backend.backend())
    if other is None or importlib.util.find_spec(other) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs every backend, but {other} is not installed")
        pytest.skip(f"{other} is not installed (pip install -r requirements/lock-jax.txt)")
    return other


def test_a_model_saved_under_one_backend_generates_the_same_spectra_under_the_other(
    trained, tmp_path
):
    other = other_backend()
    generator, ours = trained
    theirs = tmp_path / "theirs.keras"
    env = {**os.environ, "KERAS_BACKEND": other}
    run = subprocess.run(
        [sys.executable, "-c", OTHER_SIDE, str(ours), str(theirs), json.dumps(POINTS)],
        env=env,
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["backend"] == other
    if other == "jax":
        assert not report["tensorflow_imported"]  # loading and generating need no TensorFlow

    # Ours, read there.
    np.testing.assert_allclose(
        np.load(f"{theirs}.from-ours.npy"), generator.generate(POINTS), rtol=0, atol=1e-5
    )
    # z is drawn with NumPy from the seed, so sampled spectra agree as well.
    np.testing.assert_allclose(
        np.load(f"{theirs}.sampled.npy"),
        generator.sample(POINTS, 4, seed=3).mean,
        rtol=0,
        atol=1e-5,
    )
    # Theirs, read here.
    loaded = SpectrumGenerator.load(theirs)
    np.testing.assert_allclose(
        loaded.generate(POINTS), np.load(f"{theirs}.own.npy"), rtol=0, atol=1e-5
    )
    assert not np.allclose(loaded.generate(POINTS), generator.generate(POINTS), atol=1e-3)


def test_generation_pads_batches_without_changing_any_spectrum(tmp_path):
    metadata = {"wavelength": np.linspace(5000, 5010, 50).tolist(), "space": PAPER_SPACE.to_dict()}
    model = CVAE(tiny_config(), 50, seed=1, metadata=metadata)
    model.build_all()
    generator = SpectrumGenerator(model)
    rng = np.random.default_rng(0)
    points = rng.uniform(PAPER_SPACE.minimum, PAPER_SPACE.maximum, (13, 6))
    together = generator.generate(points)  # padded to 16 rows
    alone = np.concatenate([generator.generate(p) for p in points])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    saved = SpectrumGenerator.load(generator.save(tmp_path / "padded.keras"))
    np.testing.assert_array_equal(saved.generate(points[:5]), together[:5])
