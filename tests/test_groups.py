"""Base models: recorded, inferred, kept through files and subsets; splits by base model; tests
refused on stars a model has seen."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from spectral_cvae.errors import GridInputError
from spectral_cvae.evaluation.held_out import SeenBaseModelsError, held_out_split
from spectral_cvae.grid import GridSplit, SpectralGrid
from spectral_cvae.grid.augment import augment, unseen_stars
from spectral_cvae.grid.groups import base_model_keys, decode_keys, encode_keys
from spectral_cvae.grid.splits import BY_BASE_MODEL, BY_ROW_LEAKY
from spectral_cvae.grid.store import concatenate_grids, in_memory_grid
from spectral_cvae.grid.wavelength import uniform_grid
from spectral_cvae.parameters import BASE_SPACE
from spectral_cvae.provenance import describe_training

from .helpers import line_spectrum

BASE_WAVELENGTH = uniform_grid(4990.0, 5030.0, 0.02)
OUT = uniform_grid(5000.0, 5020.0, 0.05)


@pytest.fixture
def base(rng) -> SpectralGrid:
    """Twelve unbroadened base models."""
    flux = np.stack([line_spectrum(BASE_WAVELENGTH, rng, 20) for _ in range(12)])
    parameters = rng.uniform(BASE_SPACE.minimum, BASE_SPACE.maximum, (12, 4))
    return SpectralGrid(BASE_WAVELENGTH, flux, parameters, BASE_SPACE, {"source": "test"})


@pytest.fixture
def broadened(base) -> SpectralGrid:
    """The base models, five (v sin i, R) draws each: 60 rows."""
    return augment(base, 5, seed=3, wavelength=OUT)


def test_augment_records_the_base_model_of_every_row(broadened):
    np.testing.assert_array_equal(broadened.base_model, np.repeat(np.arange(12), 5))
    assert broadened.base_model_source == "recorded"


def test_base_models_survive_save_open_and_subset(broadened, tmp_path):
    with SpectralGrid.open(broadened.save(tmp_path / "grid.h5")) as grid:
        np.testing.assert_array_equal(grid.base_model, broadened.base_model)
        assert grid.base_model_source == "recorded"
        rows = np.array([59, 3, 17])
        np.testing.assert_array_equal(grid.subset(rows).base_model, broadened.base_model[rows])


def test_user_grids_get_base_models_inferred_from_identical_parameters(broadened, tmp_path):
    user = SpectralGrid(broadened.wavelength, broadened.read_flux(), broadened.parameters)
    assert user.base_model_source == "inferred"
    np.testing.assert_array_equal(user.base_model, broadened.base_model)
    # A file written before base models were recorded: inferred on opening.
    path = user.save(tmp_path / "old.h5")
    with h5py.File(path, "r+") as handle:
        del handle["base_model"]
    with SpectralGrid.open(path) as old:
        assert old.base_model_source == "inferred"
        np.testing.assert_array_equal(old.base_model, broadened.base_model)


def test_a_base_model_column_is_read_and_checked(broadened):
    column = np.arange(60) // 3
    grid = SpectralGrid(
        broadened.wavelength, broadened.read_flux(), broadened.parameters, base_model=column
    )
    np.testing.assert_array_equal(grid.base_model, column)
    with pytest.raises(GridInputError, match="spectrum 4: base_model -1 is negative"):
        SpectralGrid(
            broadened.wavelength,
            broadened.read_flux(),
            broadened.parameters,
            base_model=np.where(np.arange(60) == 4, -1, column),
        )
    with pytest.raises(GridInputError, match="shape"):
        SpectralGrid(
            broadened.wavelength, broadened.read_flux(), broadened.parameters, base_model=[1, 2]
        )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_base_model_falls_in_two_subsets(broadened, seed):
    split = broadened.split(test=0.25, validation=0.25, seed=seed)
    assert split.by == BY_BASE_MODEL
    subsets = [
        set(broadened.base_model[getattr(split, p)]) for p in ("train", "validation", "test")
    ]
    assert not (subsets[0] & subsets[1] or subsets[0] & subsets[2] or subsets[1] & subsets[2])
    assert sorted(np.concatenate([split.train, split.validation, split.test])) == list(range(60))
    assert len(subsets[2]) == 3 and len(subsets[1]) == 3
    assert split.overlapping_base_models(broadened.base_model) == {
        "base_models": 0,
        "test_spectra": 0,
    }


def test_a_count_of_test_spectra_is_filled_with_whole_base_models(broadened):
    split = broadened.split(test=12, validation=0.1, seed=5)
    assert len(split.test) == 15  # three whole models of five: the first count >= 12
    assert len(split.test) % 5 == 0


def test_the_row_split_is_labelled_leaky_and_leaks(broadened):
    split = broadened.leaky_row_split(test=0.2, validation=0.2, seed=0)
    assert split.by == BY_ROW_LEAKY
    shared = split.overlapping_base_models(broadened.base_model)
    assert shared["test_spectra"] > 0 and shared["base_models"] > 0


def test_a_split_round_trips_through_its_compact_record_and_json(broadened, tmp_path):
    split = broadened.split(seed=4)
    again = GridSplit.from_dict(split.to_dict())
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(again, part), getattr(split, part))
    assert (again.by, again.seed, again.n_spectra) == (split.by, 4, 60)
    loaded = GridSplit.load(split.save(tmp_path / "s.json"), 60)
    np.testing.assert_array_equal(loaded.test, split.test)
    assert loaded.by == BY_BASE_MODEL


def test_one_star_has_one_key_on_every_grid(base, broadened):
    keys = base_model_keys(broadened.parameters, broadened.space)
    np.testing.assert_array_equal(keys, np.repeat(base_model_keys(base.parameters, base.space), 5))
    assert len(np.unique(keys)) == 12
    np.testing.assert_array_equal(decode_keys(encode_keys(keys)), np.unique(keys))


def test_unseen_stars_leave_out_every_seen_base_model(base, broadened):
    split = broadened.split(test=0.25, validation=0.25, seed=0)
    seen = base_model_keys(broadened.parameters[np.r_[split.train, split.validation]], broadened.space)
    unseen = unseen_stars(base, seen, draws_per_model=4, seed=9, wavelength=OUT)
    assert unseen.n_spectra == 3 * 4
    assert not np.isin(base_model_keys(unseen.parameters, unseen.space), seen).any()
    np.testing.assert_array_equal(
        np.unique(unseen.base_model), np.unique(broadened.base_model[split.test])
    )
    with pytest.raises(GridInputError, match="the model did not record them"):
        unseen_stars(base, None, wavelength=OUT)
    with pytest.raises(GridInputError, match="every one of its 12 base models was seen"):
        unseen_stars(base, base_model_keys(base.parameters, base.space), wavelength=OUT)


class RecordedModel:
    """What a trained generator carries: its training grid's provenance and split."""

    def __init__(self, grid: SpectralGrid, split: GridSplit) -> None:
        self.provenance = describe_training(grid, split, seed=0)


def test_evaluation_uses_the_model_split_and_refuses_seen_stars(broadened):
    split = broadened.split(test=0.25, validation=0.25, seed=1)
    model = RecordedModel(broadened, split)
    used, description = held_out_split(model, broadened)
    np.testing.assert_array_equal(used.test, split.test)
    assert description["origin"] == "the model's own split" and description["seen"] == {
        "test_spectra": 0,
        "base_models": 0,
    }
    leaky = broadened.leaky_row_split(test=0.25, validation=0.25, seed=1)
    overlap = leaky.overlapping_base_models(broadened.base_model)
    seen_rows = np.isin(
        broadened.base_model[leaky.test], broadened.base_model[np.r_[split.train, split.validation]]
    ).sum()
    with pytest.raises(SeenBaseModelsError, match=f"{seen_rows} of {len(leaky.test)} test spectra"):
        held_out_split(model, broadened, leaky)
    assert overlap["test_spectra"] > 0
    _, allowed = held_out_split(model, broadened, leaky, allow_seen_base_models=True)
    assert allowed["seen"]["test_spectra"] == seen_rows


def test_another_grid_is_tested_whole_and_checked_star_by_star(base, broadened):
    split = broadened.split(test=0.25, validation=0.25, seed=2)
    model = RecordedModel(broadened, split)
    seen = base_model_keys(broadened.parameters[np.r_[split.train, split.validation]], broadened.space)
    held_out = unseen_stars(base, seen, draws_per_model=3, seed=5, wavelength=OUT)
    used, description = held_out_split(model, held_out)
    assert len(used.test) == held_out.n_spectra and not len(used.train)
    assert description["seen"]["test_spectra"] == 0
    fresh_draws_of_seen_stars = augment(base, 2, seed=11, wavelength=OUT)
    with pytest.raises(SeenBaseModelsError, match="18 of 24 test spectra \\(9 base models\\)"):
        held_out_split(model, fresh_draws_of_seen_stars)


def with_physics(grid: SpectralGrid, **physics) -> SpectralGrid:
    """The same spectra, recorded as computed with other physics."""
    return in_memory_grid(
        grid.wavelength,
        grid.read_flux(),
        grid.parameters,
        grid.space,
        {**grid.provenance, "physics": physics},
        grid.base_model,
    )


def test_grids_of_different_physics_are_not_joined_unless_asked(base):
    helium = with_physics(base, helium_i_lines=True)
    assert concatenate_grids([base, with_physics(base, helium_i_lines=False)]).n_spectra == 24
    with pytest.raises(GridInputError, match="cannot join grids of different physics.*helium_i_lines': True"):
        concatenate_grids([base, helium])
    joined = concatenate_grids([base, helium], allow_other_physics=True)
    assert len(np.unique(joined.base_model)) == 24


def test_a_model_is_not_tested_on_a_grid_of_other_physics_unless_asked(base, broadened):
    split = broadened.split(test=0.25, validation=0.25, seed=2)
    model = RecordedModel(broadened, split)
    seen = base_model_keys(broadened.parameters[np.r_[split.train, split.validation]], broadened.space)
    other = unseen_stars(with_physics(base, helium_i_lines=True), seen, 2, seed=5, wavelength=OUT)
    with pytest.raises(GridInputError, match="cannot test a model on a grid of other physics"):
        held_out_split(model, other)
    used, _ = held_out_split(model, other, allow_other_physics=True)
    assert len(used.test) == other.n_spectra
