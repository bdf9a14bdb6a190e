"""The pretrained generator shipped in the package: its file, its provenance, its numbers."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.pretrained import CHECK, load_pretrained, pretrained_path, starter_check
from spectral_cvae.provenance import file_sha256, recorded_split
from spectral_cvae.starter import load_starter_base_grid, starter_path

REFERENCE_GRID_SHA256 = "724f5d88662a8f4df2eda39abf1ce2ffac137bc033925a179ccb5d5c7ef9c01d"
"""sha256 of reference-sobol101.h5, the reference grid of 1,073 more base models."""


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained()


def test_the_file_ships_within_its_size_budget():
    assert pretrained_path().is_file()
    assert pretrained_path().stat().st_size < 30 * 2**20


def test_its_provenance_names_the_grids_command_split_and_test_numbers(pretrained):
    provenance = pretrained.provenance
    grids = provenance["grid_provenance"]["base_grids"]
    assert grids[0]["sha256"] == file_sha256(starter_path())
    assert [g["sha256"] for g in grids[1:]] == [REFERENCE_GRID_SHA256]
    assert "train-physics" in provenance["command"] and provenance["seed"] == 0
    split = recorded_split(provenance)
    assert split.by == "base_model" and split.n_spectra == sum(g["n_models"] for g in grids)
    tested = provenance["test_numbers"]
    assert tested["unseen_base_models"] == len(split.test)
    overall = tested["breakdown"]["rows"][0]
    assert overall["label"] == "all test spectra"
    assert 0 < overall["median"]["mean"] < 1.8e-3  # the paper's median, on unseen stars


def test_it_generates_finite_spectra_on_the_paper_pixels(pretrained):
    sun = {"teff": 5777, "logg": 4.44, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000}
    flux = pretrained.generate(sun)
    assert flux.shape == (1, 19000) and np.isfinite(flux).all()
    assert 0.0 <= flux.min() and 0.95 < np.median(flux) < 1.02


def test_it_reproduces_its_recorded_check_on_unseen_starter_stars(pretrained):
    recorded = pretrained.provenance["starter_check"]
    again = starter_check(pretrained)
    assert {k: recorded[k] for k in CHECK} == CHECK
    assert again["n_spectra"] == recorded["n_spectra"]
    assert again["median"] == pytest.approx(recorded["median"], rel=1e-3)
    assert again["p95"] == pytest.approx(recorded["p95"], rel=1e-3)
    # The demo passes the base grid it already read: the same stars, the same number.
    assert starter_check(pretrained, load_starter_base_grid())["median"] == again["median"]
