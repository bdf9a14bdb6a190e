"""The conditional VAE: architecture, losses, training, resuming, saved files."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from spectral_cvae.errors import ConfigError, ModelFileError, SpectrumInputError
from spectral_cvae.grid import SpectralGrid, uniform_grid
from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
from spectral_cvae.model import CVAE, CVAEConfig, SpectrumGenerator, train
from spectral_cvae.model.data import make_dataset
from spectral_cvae.parameters import BASE_SPACE, PAPER_SPACE

from .helpers import mg_b_grid, tiny_config

TINY = tiny_config()


class StopAt(keras.callbacks.Callback):
    """Simulate a crash at the end of an epoch (after the checkpoint is written)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class EpochsSeen(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class WeightsSeen(keras.callbacks.Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


class DivergeAfter(keras.callbacks.Callback):
    """From the end of ``epoch`` on, train with a learning rate that wrecks the model."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate.assign(5.0)


def same_weights(a: list[np.ndarray], b: list[np.ndarray], atol: float = 0.0) -> bool:
    return len(a) == len(b) and all(np.allclose(x, y, rtol=0, atol=atol) for x, y in zip(a, b))


def test_paper_preset_is_the_papers_172_million_parameter_network():
    paper = CVAEConfig.preset("paper")
    assert (paper.encoder_units, paper.decoder_units, paper.latent_dim) == (
        (4000, 2000, 1000),
        (1000, 2000, 4000),
        100,
    )
    assert (paper.batch_size, paper.patience, paper.beta) == (512, 50, 1.0)
    assert paper.n_parameters(19000) == 172_363_200
    model = CVAE(CVAEConfig.preset("demo"), n_pixels=500)
    assert model.encoder.count_params() + model.decoder.count_params() == (
        CVAEConfig.preset("demo").n_parameters(500)
    )


def test_config_presets_take_overrides_and_round_trip_through_json():
    config = CVAEConfig.preset("demo", epochs=5, beta=0.5)
    assert config.epochs == 5 and config.beta == 0.5 and config.latent_dim == 16
    assert CVAEConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(TypeError, match="no field"):
        CVAEConfig.preset("demo", epoch=5)
    with pytest.raises(KeyError, match="no preset"):
        CVAEConfig.preset("huge")
    with pytest.raises(ConfigError, match="flux_scale"):
        CVAEConfig(flux_scale=1.0)


def test_encoder_and_decoder_shapes_and_value_ranges():
    model = CVAE(TINY, n_pixels=299, seed=1)
    flux = np.full((5, 299), 50.0, dtype=np.float32)  # absurd input: log-variance must stay bounded
    condition = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    z_mean, z_log_var, z = (np.asarray(t) for t in model.encoder([flux, condition]))
    assert z_mean.shape == z_log_var.shape == z.shape == (5, 4)
    assert np.all(np.abs(z_log_var) <= TINY.log_var_limit)
    z = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    out = np.asarray(model.decoder([z, condition]))
    assert out.shape == (5, 299) and out.dtype == np.float32
    assert np.all((out > 0) & (out <= TINY.flux_scale))
    # An untrained decoder starts near the continuum, where most pixels of a spectrum are.
    assert abs(np.median(out) - 1.0) < 0.05
    model.compile(optimizer="adam")
    assert [m.name for m in model.metrics] == ["loss", "reconstruction_loss", "kl_loss"]


def test_loss_decreases_and_both_terms_are_reported_by_name(grid_file):
    generator = train(grid_file, TINY.replace(epochs=12), seed=0, verbose=0)
    history = generator.provenance["history"]
    assert {"loss", "reconstruction_loss", "kl_loss", "val_reconstruction_loss"} <= set(history[0])
    first, best = history[0], min(h["val_reconstruction_loss"] for h in history)
    assert best < 0.5 * first["val_reconstruction_loss"]
    assert history[-1]["reconstruction_loss"] < first["reconstruction_loss"]
    for h in history:
        assert h["loss"] == pytest.approx(h["reconstruction_loss"] + h["kl_loss"], rel=1e-4)


def test_the_same_seed_gives_the_same_model(grid_file):
    config = TINY.replace(epochs=2)
    a = train(grid_file, config, seed=3, verbose=0)
    b = train(grid_file, config, seed=3, verbose=0)
    c = train(grid_file, config, seed=4, verbose=0)
    point = [[6000.0, 4.0, 10.0, 0.0, 1.0, 50000.0]]
    np.testing.assert_allclose(a.generate(point), b.generate(point), rtol=0, atol=1e-6)
    assert not np.allclose(a.generate(point), c.generate(point), rtol=0, atol=1e-6)


def test_save_load_generate_gives_identical_output_and_keeps_metadata(trained, grid_file):
    generator, path = trained
    loaded = SpectrumGenerator.load(path)
    points = SpectralGrid.open(grid_file).parameters[:7]
    np.testing.assert_array_equal(loaded.generate(points), generator.generate(points))
    np.testing.assert_array_equal(loaded.wavelength, generator.wavelength)
    assert loaded.space == generator.space == PAPER_SPACE
    assert loaded.config == TINY.replace(epochs=4, in_memory_mb=0)
    provenance = loaded.provenance
    assert len(provenance["grid"]["sha256"]) == 64 and provenance["grid"]["file"] == "toy.h5"
    assert {"tensorflow", "keras", "numpy", "spectral-cvae"} <= set(provenance["versions"])
    assert len(provenance["history"]) == 4 and provenance["split"]["seed"] == 0
    # Saved without Adam's moments, which would triple the file.
    with (
        zipfile.ZipFile(path) as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        assert set(h5) == {"encoder", "decoder", "vars"}
    assert path.with_name("tiny.history.csv").read_text().count("\n") == 5
    assert not path.with_name("tiny.keras.checkpoint").exists()


def test_resume_after_an_interrupted_fit_continues_the_epoch_count(grid_file, tmp_path):
    out = tmp_path / "model.keras"
    config = TINY.replace(epochs=5)
    with pytest.raises(KeyboardInterrupt):
        train(grid_file, config, out=out, verbose=0, callbacks=[StopAt(2)])
    assert not out.exists()
    state = json.loads((tmp_path / "model.keras.checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2
    seen = EpochsSeen()
    generator = train(grid_file, config, out=out, verbose=0, callbacks=[seen])
    assert seen.epochs == [3, 4]
    assert [h["epoch"] for h in generator.provenance["history"]] == [0, 1, 2, 3, 4]
    assert out.exists() and not (tmp_path / "model.keras.checkpoint").exists()
    # A checkpoint of another run is refused rather than silently resumed.
    with pytest.raises(KeyboardInterrupt):
        train(grid_file, config, out=out, verbose=0, callbacks=[StopAt(0)])
    with pytest.raises(ModelFileError, match="different run"):
        train(grid_file, config.replace(latent_dim=3), out=out, verbose=0)


def test_training_returns_the_best_epochs_weights_not_the_last(grid_file):
    seen = WeightsSeen()
    generator = train(
        grid_file, TINY.replace(epochs=5), seed=0, verbose=0, callbacks=[DivergeAfter(1), seen]
    )
    history = generator.provenance["history"]
    losses = [h["val_reconstruction_loss"] for h in history]
    best = int(np.argmin(losses))
    assert best <= 1 and losses[-1] > 2 * losses[best]  # validation got worse after the best
    assert generator.provenance["best_epoch"] == best
    kept = generator.model.get_weights()
    assert same_weights(kept, seen.weights[best])
    assert not same_weights(kept, seen.weights[-1], atol=1e-3)


def test_a_resumed_run_ends_with_the_weights_and_history_of_an_uninterrupted_one(
    grid_file, tmp_path
):
    config = TINY.replace(epochs=5)
    whole = train(grid_file, config, seed=2, out=tmp_path / "whole.keras", verbose=0)
    resumed_out = tmp_path / "resumed.keras"
    with pytest.raises(KeyboardInterrupt):
        train(grid_file, config, seed=2, out=resumed_out, verbose=0, callbacks=[StopAt(2)])
    seen = EpochsSeen()
    resumed = train(grid_file, config, seed=2, out=resumed_out, verbose=0, callbacks=[seen])
    assert seen.epochs == [3, 4]
    for before, after in zip(whole.provenance["history"], resumed.provenance["history"], strict=True):
        assert before.keys() == after.keys()
        for key in before:
            assert after[key] == pytest.approx(before[key], rel=1e-5, abs=1e-7), key
    assert resumed.provenance["best_epoch"] == whole.provenance["best_epoch"]
    assert same_weights(resumed.model.get_weights(), whole.model.get_weights(), atol=1e-6)


def test_corrupt_truncated_or_foreign_model_files_give_a_clear_error(trained, tmp_path):
    _, path = trained
    data = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip file at all" * 100)
    flipped = tmp_path / "flipped.keras"
    corrupt = bytearray(data)
    corrupt[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    flipped.write_bytes(bytes(corrupt))
    foreign = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(foreign)
    for bad in (truncated, garbage, flipped):
        with pytest.raises(ModelFileError, match=bad.name):
            SpectrumGenerator.load(bad)
    with pytest.raises(ModelFileError, match="not a spectral-cvae CVAE"):
        SpectrumGenerator.load(foreign)
    with pytest.raises(ModelFileError, match="no such model file"):
        SpectrumGenerator.load(tmp_path / "missing.keras")


def test_streamed_batches_cover_the_rows_in_a_new_seeded_order_each_epoch(grid_file):
    grid = SpectralGrid.open(grid_file)
    rows = np.arange(5, 45)
    args = dict(space=PAPER_SPACE, batch_size=16, flux_scale=1.1, seed=7, in_memory_bytes=0)
    dataset = make_dataset(grid, rows, **args)
    assert dataset.grid is grid  # streamed from the file, not copied into memory
    assert dataset.n_batches == 3 and dataset.num_batches is None  # an endless stream
    batches = [dataset[i] for i in range(6)]  # two epochs
    for (flux, condition), target in batches:
        assert condition.min() >= 0 and condition.max() <= 1
        # The target is the flux, in memory of its own (test_distribution's MirroredStrategy).
        np.testing.assert_array_equal(target, flux)
        assert not np.shares_memory(target, flux)
    epochs = [[x[0] for x, _ in batches[:3]], [x[0] for x, _ in batches[3:]]]
    assert [len(f) for f in epochs[0]] == [16, 16, 8]
    expected = np.sort(grid.read_flux(rows), axis=0)
    for flux in epochs:
        np.testing.assert_array_equal(np.sort(np.concatenate(flux), axis=0), expected)
    assert not np.array_equal(epochs[0][0], epochs[1][0])
    # A resumed run starting at epoch 1 reads exactly what epoch 1 of the first run read.
    again = make_dataset(grid, rows, **args)
    again.first_epoch = 1
    np.testing.assert_array_equal(again[0][1], epochs[1][0])
    np.testing.assert_array_equal(again[1][1], epochs[1][1])
    assert not np.array_equal(again[4][1], batches[4][1])  # epoch 2 differs from epoch 1
    validation = make_dataset(grid, rows, **{**args, "shuffle": False})
    assert validation.num_batches == 3 and len(list(validation)) == 3
    np.testing.assert_array_equal(validation[0][1], grid.read_flux(rows[:16]))
    with pytest.raises(IndexError):
        validation[3]
    for source in (dataset, again, validation):
        source.close()


def test_flux_the_sigmoid_cannot_reach_is_refused_naming_the_spectrum(tmp_path):
    grid = mg_b_grid(24)
    flux = grid.read_flux(np.arange(24))
    flux[13, 40] = 1.3
    path = SpectralGrid(grid.wavelength, flux, grid.parameters).save(tmp_path / "bright.h5")
    with pytest.raises(SpectrumInputError, match=r"bright.h5, spectrum 13: flux 1.3 at pixel 40"):
        train(path, TINY.replace(epochs=1), split=None, verbose=0)


def test_a_base_grid_is_broadened_on_the_fly(tmp_path):
    wavelength = uniform_grid(5150.0, 5200.0, 0.02)
    base = toy_base_parameters(6, seed=1)
    flux = np.stack([toy_spectrum(wavelength, *row) for row in base])
    path = SpectralGrid(wavelength, flux, base, BASE_SPACE).save(tmp_path / "base.h5")
    out_wavelength = uniform_grid(5160.0, 5190.0, 0.1)
    config = TINY.replace(epochs=2, draws_per_model=4, validation=1, test=1)
    generator = train(path, config, wavelength=out_wavelength, verbose=0)
    assert generator.space.names == PAPER_SPACE.names
    assert generator.n_pixels == len(out_wavelength)
    flux = generator.generate([[6000.0, 4.0, 100.0, 0.0, 1.0, 20000.0]])
    assert flux.shape == (1, len(out_wavelength))
    assert len(generator.provenance["history"]) == 2
