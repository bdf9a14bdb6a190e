"""Training the physics-aware CVAE on base spectra: split by star, basis, fit, provenance.

The training set is a grid of unbroadened base models (the starter grid, reference chunks).
Its rows are stars, so the split is by base model by construction. The base spectra are put
on the model's grid uniform in ln(lambda) once, the PCA basis is learned from the training
stars only (test stars never shape it), and the CVAE is fitted on arrays in memory with the
paper's callbacks (ReduceLROnPlateau and EarlyStopping, here on the validation *generation*
loss: the error with z = 0, as spectra are generated, not the encoder-aided reconstruction),
resumable after every ``checkpoint_every`` epochs like :func:`~spectral_cvae.model.train`.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from scipy.interpolate import make_interp_spline
from tqdm.auto import tqdm

from ..errors import ParameterError, SpectrumInputError
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid, concatenate_grids
from ..grid.wavelength import log_uniform_grid, paper_wavelength
from ..parameters import BASE_NAMES, PAPER_SPACE, ParameterSpace, base_space
from ..provenance import describe_training, file_sha256
from ..seeding import keras_seeded
from .broadening_layers import BASE_WINDOW
from .generator import SpectrumGenerator
from .physics import PhysicsConfig, PhysicsCVAE, fit_basis
from .training import checkpoint_path, finish, start_checkpoint


def load_base_grids(
    paths: list[str | os.PathLike] | None = None, allow_other_physics: bool = False
) -> SpectralGrid:
    """The shipped starter base grid, plus packed base grids of more models, as one grid.

    Parameters
    ----------
    paths
        Packed base grids (``spectral_cvae.starter.read_packed_base_grid`` format), e.g. the
        reference chunks built by ``spectral-cvae grid build``; None: the starter grid only.
    allow_other_physics
        Join grids whose recorded physics differ (refused by default).

    Returns
    -------
    SpectralGrid
        In memory; its provenance lists every file with its sha256.
    """
    from ..starter import load_starter_base_grid, read_packed_base_grid, starter_path

    parts = [load_starter_base_grid()]
    files = [{"file": "starter-grid.h5 (shipped)", "sha256": file_sha256(starter_path())}]
    for path in paths or []:
        parts.append(read_packed_base_grid(path))
        files.append({"file": Path(path).name, "sha256": file_sha256(path)})
    for part, record in zip(parts, files):
        record["n_models"] = len(part)
        record["provenance"] = part.provenance
    return concatenate_grids(parts, {"base_grids": files}, allow_other_physics)


def log_base_flux(
    base: SpectralGrid, velocity_step: float, batch_size: int = 128, progress: bool | None = None
) -> np.ndarray:
    """Base spectra on the model's ln(lambda) grid (cubic spline), float32 ``(n, n_log)``."""
    log_wavelength = log_uniform_grid(BASE_WINDOW[0], BASE_WINDOW[1], velocity_step)
    # One input step of extrapolation at most: 4440-5409.98 A at 0.02 A serves 4440-5410 A.
    step = float(np.max(np.diff(base.wavelength[-2:])))
    if (
        base.wavelength[0] > log_wavelength[0] + step
        or base.wavelength[-1] < log_wavelength[-1] - step
    ):
        raise SpectrumInputError(
            f"{base.path or 'base grid'}: covers {base.wavelength[0]:.2f}-"
            f"{base.wavelength[-1]:.2f} A; the physics-aware model needs "
            f"{BASE_WINDOW[0]:.0f}-{BASE_WINDOW[1]:.0f} A"
        )
    out = np.empty((base.n_spectra, log_wavelength.size), dtype=np.float32)
    for rows, _, flux in tqdm(
        base.iter_batches(batch_size),
        total=-(-base.n_spectra // batch_size),
        desc="base spectra onto the ln(lambda) grid",
        disable=None if progress is None else not progress,
    ):
        out[rows] = make_interp_spline(base.wavelength, flux, k=3, axis=1)(log_wavelength)
    return out


def train_physics(
    base: SpectralGrid,
    config: PhysicsConfig | None = None,
    split: GridSplit | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    *,
    space: ParameterSpace = PAPER_SPACE,
    wavelength: np.ndarray | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    checkpoint_every: int = 25,
    callbacks: list[keras.callbacks.Callback] | tuple = (),
    verbose: int | str = 0,
) -> SpectrumGenerator:
    """Train the physics-aware CVAE on a grid of base models.

    Parameters
    ----------
    base
        Unbroadened base spectra over (Teff, log g, [M/H], xi_t) covering 4440-5410 A
        (e.g. :func:`load_base_grids`).
    config
        Settings; default ``PhysicsConfig.preset("physics")``.
    split
        Train / validation / test base models; default ``base.split(config.test,
        config.validation, seed)``. Test stars are never read, not even by the basis.
    seed
        Seeds the split, the weights, the shuffles and the z draws.
    out
        If given, the model is saved there (``.keras``) and its history beside it.
    space
        The six-parameter space of the generated spectra (its v sin i and R ranges).
    wavelength
        Output wavelengths, Angstrom; default the paper's 4450-5400 A at 0.05 A.
    checkpoint_dir, resume, checkpoint_every
        As for :func:`~spectral_cvae.model.train`; default ``<out>.checkpoint``.
    callbacks
        Extra Keras callbacks (e.g. :class:`~spectral_cvae.model.TimeLimit`).
    verbose
        Keras verbosity.

    Returns
    -------
    SpectrumGenerator
        Six parameters in, spectra out, with the best epoch's weights; its provenance holds
        the split, the training stars' keys, the grids' sha256 and the history.
    """
    config = config or PhysicsConfig.preset("physics")
    if tuple(base.names) != BASE_NAMES:
        raise ParameterError(
            f"the physics-aware model trains on base grids over {BASE_NAMES}, not "
            f"{tuple(base.names)}"
        )
    split = split or base.split(test=config.test, validation=config.validation, seed=seed)
    split.check_grid_size(base.n_spectra)
    wavelength = paper_wavelength() if wavelength is None else np.asarray(wavelength)
    out = Path(out) if out is not None else None
    checkpoint_dir = checkpoint_path(out, checkpoint_dir, resume)

    used = np.concatenate([split.train, split.validation])
    flux = log_base_flux(base.subset(used), config.velocity_step)
    basis = fit_basis(flux[: len(split.train)], config.n_components, config.flux_scale)
    conditions = base_space(space).normalize(base.parameters[used]).astype(np.float32)
    coefficients = basis.coefficients(flux, config.flux_scale)
    del flux  # training runs in the basis: the spectra are no longer needed

    # Keras's weights and shuffles are seeded; the caller's generators are left as found.
    with keras_seeded(seed):
        provenance = describe_training(base, split, seed)
        provenance["generator"] = "physics-aware CVAE: base spectrum network + exact broadening"
        provenance["basis_variance_kept"] = basis.explained
        metadata = {"wavelength": wavelength.tolist(), "space": space.to_dict()}
        model = PhysicsCVAE(config, len(wavelength), len(space), seed=seed, metadata=metadata)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        model.build_all()
        model.basis.set_basis(basis.mean, basis.scale, basis.components)

        n_train = len(split.train)
        has_validation = len(split.validation) > 0
        # Validation watches generation itself (z = 0), not the encoder-aided reconstruction.
        monitor = "val_generation_loss" if has_validation else "reconstruction_loss"
        checkpoint, initial_epoch, built_in = start_checkpoint(
            model, config, provenance, seed, monitor, out, checkpoint_dir, checkpoint_every
        )
        validation = (
            ((coefficients[n_train:], conditions[n_train:]), coefficients[n_train:])
            if has_validation
            else None
        )
        if initial_epoch < config.epochs:
            model.fit(
                (coefficients[:n_train], conditions[:n_train]),
                coefficients[:n_train],
                batch_size=config.batch_size,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                validation_data=validation,
                shuffle=True,
                callbacks=[*built_in, *callbacks],
                verbose=verbose,
            )
        return finish(model, checkpoint, metadata, provenance, out, checkpoint_dir)


__all__ = ["load_base_grids", "log_base_flux", "train_physics"]
