"""Building a grid of SYNSPEC base spectra on a Dask cluster, resumably.

A build draws base models (Teff, log g, [M/H], xi_t) over a parameter space, computes them in
parallel, and appends each finished spectrum to a :class:`~spectral_cvae.grid.GridWriter` the
moment it arrives. The draws are a deterministic function of (method, seed, n_models), so a
restarted build recomputes the same draws, recognizes the finished ones by their parameters in
the ``.partial`` file, and computes only the rest. A model that fails (outside the atmosphere
networks, SYNSPEC error) is recorded in ``<grid>.failures.json`` and the build goes on.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import SpectralCVAEError
from ...files import atomic_path
from ...parameters import BASE_NAMES, BASE_SPACE, ParameterSpace
from ..store import GridWriter
from ..wavelength import BASE_STEP, MARGIN, PAPER_WINDOW, uniform_grid
from .errors import SynthesisError

METHODS = ("sobol", "lhs", "uniform")


def sample_base_parameters(
    n_models: int, method: str = "sobol", seed: int = 0, space: ParameterSpace = BASE_SPACE
) -> np.ndarray:
    """Draw base models over ``space``.

    Parameters
    ----------
    n_models
        Number of models.
    method
        ``"sobol"`` (scrambled Sobol sequence), ``"lhs"`` (Latin hypercube) or
        ``"uniform"`` (independent uniform draws), from :mod:`scipy.stats.qmc` / NumPy.
    seed
        Seed; the same (method, seed, n_models) give the same draws. For ``"sobol"`` and
        ``"uniform"`` the first n draws do not depend on n_models, so a grid can be extended.
    space
        Parameter space whose ranges are sampled (names in its order).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_models, len(space))``, in the order of ``space.names``.
    """
    from scipy.stats import qmc

    if n_models < 1:
        raise ValueError(f"n_models must be >= 1, got {n_models}")
    d = len(space)
    if method == "sobol":
        with warnings.catch_warnings():
            # A prefix of the sequence is still well spread; scipy warns it is not balanced.
            warnings.simplefilter("ignore", UserWarning)
            unit = qmc.Sobol(d, scramble=True, seed=seed).random(n_models)
    elif method == "lhs":
        unit = qmc.LatinHypercube(d, seed=seed).random(n_models)
    elif method == "uniform":
        unit = np.random.default_rng(seed).uniform(size=(n_models, d))
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return qmc.scale(unit, space.minimum, space.maximum)


def base_wavelength(
    window: tuple[float, float] = PAPER_WINDOW, margin: float = MARGIN, step: float = BASE_STEP
) -> np.ndarray:
    """Uniform wavelengths (Angstrom) of base spectra: the window widened by ``margin``."""
    return uniform_grid(window[0] - margin, window[1] + margin, step)


@dataclass
class BuildReport:
    """What a build did.

    Attributes
    ----------
    path
        The finished grid file, or None if models are still missing (failures).
    n_models, n_done, n_failed
        Models asked for, stored, and recorded as failed.
    seconds
        Wall-clock time of this run.
    seconds_per_model
        Mean time of one synthesis as measured on the workers, over this run.
    """

    path: Path | None
    n_models: int
    n_done: int
    n_failed: int
    seconds: float
    seconds_per_model: float


def failures_path(path: str | os.PathLike) -> Path:
    """The side file recording failed models of the build writing ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".failures.json")


def build_base_grid(
    path: str | os.PathLike,
    n_models: int,
    method: str = "sobol",
    seed: int = 0,
    *,
    space: ParameterSpace = BASE_SPACE,
    window: tuple[float, float] = PAPER_WINDOW,
    margin: float = MARGIN,
    step: float = BASE_STEP,
    workers: int = 2,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
    provenance: dict | None = None,
    synthesize: Callable | None = None,
) -> BuildReport:
    """Compute (or resume) a grid of unbroadened SYNSPEC base spectra.

    Parameters
    ----------
    path
        Grid file to write over ``space``; work goes to ``<path>.partial`` until every model
        is stored or recorded as failed in ``<path>.failures.json``.
    n_models, method, seed
        The draws (:func:`sample_base_parameters`).
    space
        Base parameter space: Teff, log g, [M/H], xi_t ranges.
    window, margin, step
        Spectra cover ``window`` widened by ``margin`` on each side, sampled every ``step``
        Angstrom (:func:`base_wavelength`).
    workers
        Worker processes of the local Dask cluster (ignored with ``scheduler``).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); its workers need SYNSPEC
        installed (``spectral-cvae synspec install``) in their own cache.
    retry_failed
        Compute again the models recorded as failed by an earlier, unfinished run.
    progress
        Show a progress bar; None shows it only on a terminal.
    provenance
        Extra JSON-ready entries for the grid's provenance (e.g. the command line).
    synthesize
        The function computing one spectrum, ``f(teff, logg, mh, vmic, window, step)`` ->
        ``(wavelength, flux)``; default :func:`~spectral_cvae.grid.synthesis.run.synthesize`.

    Returns
    -------
    BuildReport
    """
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    from . import run
    from .install import installation

    began = time.perf_counter()
    path = Path(path)
    parameters = sample_base_parameters(n_models, method, seed, space)
    wavelength = base_wavelength(window, margin, step)
    synthesize = synthesize or run.synthesize
    span = (window[0] - margin, window[1] + margin)
    if synthesize is run.synthesize:
        installation()  # fail now, with the install hint, not once per model on the workers
    record = _build_provenance(method, seed, n_models, step, provenance)
    writer = GridWriter(path, wavelength, space, provenance=record, resume=True)
    failed = _read_failures(path)
    try:
        done = _stored_draws(writer, parameters, method, seed)
        skip = done | (set() if retry_failed else set(failed))
        pending = [i for i in range(n_models) if i not in skip]
        timings: list[float] = []
        if pending:
            with ExitStack() as stack:
                client = _dask_client(stack, workers, scheduler)
                futures = [
                    client.submit(
                        _one_model,
                        i,
                        parameters[i],
                        space.names,
                        span,
                        step,
                        synthesize,
                        pure=False,
                    )
                    for i in pending
                ]
                bar = tqdm(
                    total=n_models,
                    initial=len(done),
                    unit="model",
                    desc="SYNSPEC base models",
                    disable=None if progress is None else not progress,
                )
                with bar:
                    for future in as_completed(futures):
                        index, flux, seconds, error = future.result()
                        future.release()
                        row = parameters[index]
                        if _store_model(writer, failed, path, index, row, space.names, flux, error):
                            timings.append(seconds)
                        bar.update(1)
        _write_failures(path, failed)
        n_done = writer.n_spectra
        finished = writer.finish() if n_done + len(failed) == n_models else None
    finally:
        writer.close()
    return BuildReport(
        path=finished,
        n_models=n_models,
        n_done=n_done,
        n_failed=len(failed),
        seconds=time.perf_counter() - began,
        seconds_per_model=float(np.mean(timings)) if timings else float("nan"),
    )


def _build_provenance(
    method: str, seed: int, n_models: int, step: float, extra: dict | None
) -> dict:
    """What the grid's provenance says of its spectra and draws, with ``extra`` entries."""
    return {
        "spectra": "SYNSPEC 54 (Hubeny & Lanz), LTE, atmosnet (Kurucz/C3K-type) atmospheres, "
        "Gaia-ESO atomic lines; unbroadened, continuum-normalized",
        "sampling": {"method": method, "seed": seed, "n_models": n_models},
        "base_step_angstrom": step,
        **(extra or {}),
    }


def _stored_draws(writer: GridWriter, parameters: np.ndarray, method: str, seed: int) -> set[int]:
    """Indices of the draws an earlier run already stored; refuses a partial file of other
    draws."""
    done = _stored_indices(parameters, writer.parameters)
    if len(done) != writer.n_spectra:
        raise SynthesisError(
            f"{writer.partial_path}: holds models that are not among these draws (method "
            f"{method!r}, seed {seed}, {len(parameters)} models); resume it with the options it "
            f"was started with, or delete it"
        )
    return done


def _dask_client(stack: ExitStack, workers: int, scheduler: str | None):
    """A Dask client of the running ``scheduler``, or of a local cluster of ``workers``
    single-threaded processes; both closed with ``stack``."""
    from dask.distributed import Client, LocalCluster

    address = scheduler or stack.enter_context(
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
    )
    return stack.enter_context(Client(address))


def _store_model(
    writer: GridWriter,
    failed: dict,
    path: Path,
    index: int,
    row: np.ndarray,
    names: tuple[str, ...],
    flux: np.ndarray,
    error: str | None,
) -> bool:
    """Append one computed model to the grid, or record its failure (side file rewritten);
    True if it was stored."""
    if error is None and flux.size != writer.wavelength.size:
        error = f"{flux.size} flux points for {writer.wavelength.size} wavelengths"
    if error is None:
        writer.append(flux[None, :], row[None, :])
        failed.pop(index, None)
        return True
    failed[index] = {"parameters": dict(zip(names, row.tolist())), "error": error}
    _write_failures(path, failed)
    return False


def _one_model(index, row, names, span, step, synthesize):
    """Run on a worker: (index, flux, seconds, error message or None)."""
    values = dict(zip(names, (float(v) for v in row)))
    began = time.perf_counter()
    try:
        _, flux = synthesize(*(values[n] for n in BASE_NAMES), window=span, step=step)
    except SpectralCVAEError as exc:
        return index, None, time.perf_counter() - began, str(exc)[-2000:]
    return index, flux.astype(np.float32), time.perf_counter() - began, None


def _stored_indices(parameters: np.ndarray, stored: np.ndarray) -> set[int]:
    """Indices of ``parameters`` rows already present (exactly) among ``stored`` rows."""
    lookup = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(parameters))}
    keys = (row.tobytes() for row in np.ascontiguousarray(stored))
    return {lookup[key] for key in keys if key in lookup}


def _read_failures(path: Path) -> dict[int, dict]:
    side = failures_path(path)
    if not side.is_file():
        return {}
    return {int(k): v for k, v in json.loads(side.read_text()).items()}


def _write_failures(path: Path, failed: dict[int, dict]) -> None:
    side = failures_path(path)
    if not failed:
        side.unlink(missing_ok=True)
        return
    with atomic_path(side) as temporary:
        temporary.write_text(json.dumps({str(k): v for k, v in sorted(failed.items())}, indent=1))
