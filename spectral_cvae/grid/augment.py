"""Base spectra and their (v sin i, R) augmentation.

Only Teff, log g, [M/H] and microturbulence need a radiative-transfer run; rotation and the
instrument are convolutions of the result (Gebran & Bentley 2025, section 2). A *base grid*
is therefore a :class:`SpectralGrid` over :data:`BASE_SPACE`, finely sampled (<= 0.02 A) and
unbroadened; :func:`augment` turns it into training spectra by broadening each base model to
several (v sin i, R) draws over the paper's ranges and sampling them on the output grid.
"""

from __future__ import annotations

import os

import numpy as np
from tqdm.auto import tqdm

from ..errors import GridInputError
from ..parameters import BASE_NAMES, BASE_SPACE, PAPER_SPACE, ParameterSpace, base_space
from .broadening import broaden
from .groups import base_model_keys
from .store import GridWriter, SpectralGrid, in_memory_grid
from .wavelength import paper_wavelength

__all__ = [
    "BASE_NAMES",
    "BASE_SPACE",
    "augment",
    "base_space",
    "draw_broadening",
    "full_parameters",
    "seen_stars",
    "unseen_stars",
]


RESOLUTION_DISTRIBUTIONS = ("uniform", "log-uniform")
"""How resolving powers are drawn: uniform in R, or uniform in log R."""


def draw_broadening(
    n: int,
    rng: np.random.Generator,
    space: ParameterSpace = PAPER_SPACE,
    resolution_distribution: str = "uniform",
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (v sin i in km/s, R) over the ranges of ``space``.

    v sin i is uniform; R is uniform (the paper's draw: R < 10,000 in only 8 % of spectra) or
    log-uniform (each decade of R equally often).

    Returns
    -------
    vsini, resolution : numpy.ndarray
        Each of shape ``(n,)``.
    """
    if resolution_distribution not in RESOLUTION_DISTRIBUTIONS:
        raise GridInputError(
            f"resolution_distribution must be one of {RESOLUTION_DISTRIBUTIONS}, not "
            f"{resolution_distribution!r}"
        )
    vsini = rng.uniform(space["vsini"].minimum, space["vsini"].maximum, n)
    low, high = space["resolution"].minimum, space["resolution"].maximum
    if resolution_distribution == "log-uniform":
        resolution = np.exp(rng.uniform(np.log(low), np.log(high), n))
    else:
        resolution = rng.uniform(low, high, n)
    return vsini, resolution


def full_parameters(
    base_parameters: np.ndarray,
    vsini: np.ndarray,
    resolution: np.ndarray,
    space: ParameterSpace = PAPER_SPACE,
) -> np.ndarray:
    """Combine base parameters ``(n, 4)`` with broadening ``(n,)`` into ``space``'s order."""
    columns = dict(zip(BASE_NAMES, np.asarray(base_parameters, dtype=float).T))
    columns.update(
        vsini=np.asarray(vsini, dtype=float), resolution=np.asarray(resolution, dtype=float)
    )
    return np.column_stack([columns[name] for name in space.names])


def augment(
    base: SpectralGrid,
    draws_per_model: int,
    seed: int = 0,
    wavelength: np.ndarray | None = None,
    space: ParameterSpace = PAPER_SPACE,
    path: str | os.PathLike | None = None,
    limb_darkening: float = 0.6,
    resolution_distribution: str = "uniform",
) -> SpectralGrid:
    """Broaden every base model to ``draws_per_model`` random (v sin i, R) pairs.

    Parameters
    ----------
    base
        Unbroadened spectra over (Teff, log g, [M/H], xi_t), finely sampled, on a window
        wider than ``wavelength`` by at least the broadening reach (about 2 A at 300 km/s).
    draws_per_model
        Number of (v sin i, R) pairs per base model.
    seed
        Seed of the draws: the same seed gives the same pairs.
    wavelength
        Output wavelengths in Angstrom; default the paper's 4450-5400 A at 0.05 A.
    space
        Parameter space of the output (its vsini and resolution ranges are drawn from).
    path
        If given, spectra are written there with :class:`GridWriter` (resumable: an
        interrupted run continues with the next base model) and the opened file is returned.
    limb_darkening
        Linear limb-darkening coefficient of the rotational profile.
    resolution_distribution
        ``"uniform"`` or ``"log-uniform"`` draws of R (see :func:`draw_broadening`);
        recorded in the provenance.

    Returns
    -------
    SpectralGrid
        ``len(base) * draws_per_model`` spectra; rows ``k * draws_per_model ...`` come from
        row k of ``base``, and their ``base_model`` is that row's ``base.base_model``.
    """
    wavelength = paper_wavelength() if wavelength is None else np.asarray(wavelength)
    vsini, resolution = draw_broadening(
        len(base) * draws_per_model, np.random.default_rng(seed), space, resolution_distribution
    )
    base_parameters = np.repeat(
        base.parameters[:, [base.names.index(n) for n in BASE_NAMES]], draws_per_model, axis=0
    )
    parameters = full_parameters(base_parameters, vsini, resolution, space)
    base_model = np.repeat(base.base_model, draws_per_model)
    provenance = {
        **base.provenance,
        "augmentation": {
            "draws_per_model": draws_per_model,
            "seed": seed,
            "limb_darkening": limb_darkening,
            "vsini_distribution": "uniform",
            "resolution_distribution": resolution_distribution,
            "base_grid": str(base.path or "in memory"),
        },
    }
    writer = GridWriter(path, wavelength, space, provenance) if path is not None else None
    flux = None if writer else np.empty((len(parameters), wavelength.size), dtype=np.float32)
    done = writer.n_spectra // draws_per_model if writer else 0
    try:
        for model in tqdm(
            range(done, len(base)),
            initial=done,
            total=len(base),
            desc="broadening base models",
            unit="model",
            disable=None,
        ):
            rows = slice(model * draws_per_model, (model + 1) * draws_per_model)
            spectra = broaden(
                base.wavelength,
                base.spectrum(model),
                vsini[rows],
                resolution[rows],
                wavelength_out=wavelength,
                limb_darkening=limb_darkening,
            )
            if writer:
                writer.append(spectra, parameters[rows], base_model=base_model[rows])
            else:
                flux[rows] = spectra
    except BaseException:
        if writer:
            writer.close()
        raise
    if writer:
        return SpectralGrid.open(writer.finish())
    return in_memory_grid(wavelength, flux, parameters, space, provenance, base_model)


def unseen_stars(
    base: SpectralGrid,
    seen_keys: np.ndarray,
    draws_per_model: int = 8,
    seed: int = 1,
    wavelength: np.ndarray | None = None,
    space: ParameterSpace = PAPER_SPACE,
    max_models: int | None = None,
    path: str | os.PathLike | None = None,
) -> SpectralGrid:
    """A six-parameter test set of stars a model never saw.

    Every base model of ``base`` whose key is not among ``seen_keys`` (a model's training
    and validation base models, :func:`~spectral_cvae.grid.groups.base_model_keys`) is
    broadened to fresh (v sin i, R) draws, so the paper's statistics run on unseen stars
    at any size.

    Parameters
    ----------
    base
        Unbroadened base spectra (Teff, log g, [M/H], xi_t), e.g. the starter grid or a
        reference grid.
    seen_keys
        Keys of the base models to leave out; see
        :func:`spectral_cvae.provenance.recorded_training_keys`.
    draws_per_model
        (v sin i, R) pairs per unseen base model.
    seed
        Seed of the draws (and of the choice of models when ``max_models`` is given).
    wavelength, space, path
        As for :func:`augment`.
    max_models
        Use at most this many unseen base models, drawn at random.

    Returns
    -------
    SpectralGrid
        The broadened spectra; their ``base_model`` is that of the rows of ``base`` they
        came from.

    Raises
    ------
    GridInputError
        If every base model of ``base`` was seen.
    """
    return _broaden_stars(
        base, seen_keys, False, draws_per_model, seed, wavelength, space, max_models, path
    )


def seen_stars(
    base: SpectralGrid,
    seen_keys: np.ndarray,
    draws_per_model: int = 8,
    seed: int = 1,
    wavelength: np.ndarray | None = None,
    space: ParameterSpace = PAPER_SPACE,
    max_models: int | None = None,
    path: str | os.PathLike | None = None,
) -> SpectralGrid:
    """Stars a model *was* trained on, broadened to fresh (v sin i, R) draws.

    What a split of rows at random tests on: the same stars seen through other exact
    convolutions. Only to show how much such a leaky test flatters a model; parameters as
    for :func:`unseen_stars`.
    """
    return _broaden_stars(
        base, seen_keys, True, draws_per_model, seed, wavelength, space, max_models, path
    )


def _broaden_stars(
    base: SpectralGrid,
    seen_keys: np.ndarray,
    keep_seen: bool,
    draws_per_model: int,
    seed: int,
    wavelength: np.ndarray | None,
    space: ParameterSpace,
    max_models: int | None,
    path: str | os.PathLike | None,
) -> SpectralGrid:
    if seen_keys is None:
        raise GridInputError(
            "no training stars to compare with: the model did not record them (models trained "
            "before splits were kept by star); evaluate it on its own grid's split instead"
        )
    keys = base_model_keys(base.parameters, base.space)
    seen = np.isin(keys, np.asarray(seen_keys, dtype=np.uint64))
    chosen = np.flatnonzero(seen if keep_seen else ~seen)
    if not len(chosen):
        source = str(base.path) if base.path else "the base grid"
        what = "none" if keep_seen else "every one"
        raise GridInputError(f"{source}: {what} of its {len(base)} base models was seen")
    if max_models is not None and len(chosen) > max_models:
        drawn = np.random.default_rng([seed, 7]).choice(chosen, max_models, replace=False)
        chosen = np.sort(drawn)
    stars = base.subset(chosen)
    stars.provenance["seen_stars" if keep_seen else "unseen_stars"] = {
        "base_models": int(len(chosen)),
        "of": int(len(base)),
        "draws_per_model": int(draws_per_model),
        "seed": int(seed),
    }
    return augment(stars, draws_per_model, seed, wavelength, space, path)
