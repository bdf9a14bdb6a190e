#!/usr/bin/env bash
# The paper's network on one accelerator with JAX, in at most 8 minutes.
#
#   scripts/accelerator_run.sh [WHEEL_DIR]
#
# 1. Installs the wheels carried in WHEEL_DIR (default build/wheels: keras and whatever the
#    machine lacks; nothing is downloaded) and this package, without dependencies.
# 2. Broadens the shipped starter base grid (600 SYNSPEC models) to about 10^5 spectra on the
#    device, with the Broadening layer (exact rotation + instrument, keras.ops).
# 3. Trains the `paper` preset (172 M weights, batch 512) with the paper's callbacks
#    (ReduceLROnPlateau, EarlyStopping on the validation reconstruction loss, best epoch kept)
#    for as many epochs as fit in RUN_SECONDS, on a split by base model (no base model in two
#    subsets), and prints training steps/s, generation spectra/s and the test median |Delta F|.
#
# Fill WHEEL_DIR on a machine with the index, for the device's Python, e.g.
#   pip download --only-binary=:all: --python-version 3.12 -d build/wheels keras==3.15.1
#
# SPECTRAL_CVAE_RUN=tiny runs the same steps with a tiny network on a dozen base models, on
# any CPU in well under a minute (tests/test_accelerator_run.py runs it in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-build/wheels}
python=${PYTHON:-python3}
if compgen -G "$wheels/*.whl" >/dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps "$wheels"/*.whl
fi
# An editable install needs setuptools; without it the source tree is used as it is.
if ! "$python" -c "import spectral_cvae" 2>/dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --no-build-isolation -e . 2>/dev/null \
        || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax}

"$python" - <<'PY'
import os
import time

start = time.monotonic()
import keras
import numpy as np

from spectral_cvae.grid import SpectralGrid, paper_wavelength
from spectral_cvae.grid.augment import draw_broadening
from spectral_cvae.model import CVAEConfig, TimeLimit, train
from spectral_cvae.model.broadening_layers import BASE_VELOCITY_STEP, Broadening
from spectral_cvae.model.physics_training import log_base_flux
from spectral_cvae.parameters import PAPER_SPACE
from spectral_cvae.starter import load_starter_base_grid

tiny = os.environ.get("SPECTRAL_CVAE_RUN") == "tiny"
n_models, n_spectra, seconds = (12, 48, 20) if tiny else (None, 100_000, 270)
seconds = float(os.environ.get("RUN_SECONDS", seconds))
print(f"keras {keras.__version__} on {keras.backend.backend()}, devices:",
      keras.distribution.list_devices())

# -- the grid: base models broadened on the device ----------------------------------------
base = load_starter_base_grid()
if n_models is not None:
    base = base.subset(np.arange(n_models))
draws = max(1, round(n_spectra / base.n_spectra))
log_flux = log_base_flux(base, BASE_VELOCITY_STEP, progress=False)
wavelength = paper_wavelength()
layer = Broadening(wavelength_out=wavelength)
rng = np.random.default_rng(0)
model_of_row = np.repeat(np.arange(base.n_spectra), draws)
vsini, resolution = draw_broadening(model_of_row.size, rng, PAPER_SPACE)
flux = np.empty((model_of_row.size, wavelength.size), np.float32)
t = time.monotonic()
for lo in range(0, model_of_row.size, 1024):
    rows = slice(lo, lo + 1024)
    flux[rows] = keras.ops.convert_to_numpy(
        layer(log_flux[model_of_row[rows]], vsini[rows], resolution[rows])
    )
b = base.parameters[model_of_row]  # teff, logg, mh, vmic
parameters = np.column_stack([b[:, 0], b[:, 1], vsini, b[:, 2], b[:, 3], resolution])
grid = SpectralGrid(wavelength, flux, parameters, PAPER_SPACE, base_model=model_of_row)
print(f"broadened {base.n_spectra} base models to {grid.n_spectra} spectra of "
      f"{grid.n_pixels} pixels in {time.monotonic() - t:.1f} s")
split = grid.split(test=0.1, validation=0.1, seed=0)  # by base model
print("split (spectra):", split.sizes())

# -- training: the paper's network and callbacks, time-boxed ------------------------------
if tiny:
    config = CVAEConfig.preset("demo", encoder_units=(32, 16), decoder_units=(16, 32),
                               latent_dim=4, batch_size=8)
else:
    config = CVAEConfig.preset("paper")
config = config.replace(epochs=10_000, in_memory_mb=flux.nbytes / 2**20 + 1)


class StepRate(keras.callbacks.Callback):
    """Steps per second after the first epoch (which includes compiling)."""

    def on_train_begin(self, logs=None):
        self.steps, self.started = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.started is None and self.steps:
            self.started, self.steps = time.monotonic(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


rate = StepRate()
t = time.monotonic()
generator = train(grid, config, split=split, seed=0, verbose=2,
                  callbacks=[TimeLimit(seconds), rate])
history = generator.provenance["history"]
steps_per_s = rate.steps / (time.monotonic() - rate.started) if rate.started else float("nan")
print(f"trained {len(history)} epochs in {time.monotonic() - t:.0f} s; best epoch "
      f"{generator.provenance['best_epoch']}, val. reconstruction "
      f"{min(h['val_reconstruction_loss'] for h in history):.3e}; "
      f"{steps_per_s:.2f} steps/s of {config.batch_size} after the first epoch")

# -- generation speed and the test median -------------------------------------------------
test = np.sort(split.test)
batch = min(1024, test.size)
generator.generate(grid.parameters[test[:batch]])  # compile
t = time.monotonic()
generator.generate(grid.parameters[test[:batch]])
per_batch = time.monotonic() - t
generator.generate(grid.parameters[test[:1]])
t = time.monotonic()
for _ in range(20):
    generator.generate(grid.parameters[test[:1]])
one = (time.monotonic() - t) / 20
print(f"generation: {batch / per_batch:,.0f} spectra/s at batch {batch}; "
      f"one spectrum {one * 1e3:.2f} ms")
residual = np.concatenate([
    np.abs(generator.generate(grid.parameters[rows]) - grid.flux[rows]).ravel()
    for rows in np.array_split(test, max(1, test.size // 1024))
])
print(f"test median |Delta F| = {np.median(residual):.3e} (95th percentile "
      f"{np.percentile(residual, 95):.3e}) over {test.size} spectra of "
      f"{np.unique(model_of_row[test]).size} held-out base models (paper: 1.8e-3)")
print(f"total {time.monotonic() - start:.0f} s")
PY
