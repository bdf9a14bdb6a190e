"""Bounded least squares of an observed spectrum through a generator, from several starts.

The fitted quantities are the free stellar parameters (normalized to [0, 1] over the
generator's domain, which are also the bounds) and the radial velocity; the continuum
coefficients are solved linearly inside every residual evaluation (variable projection), so
the optimizer never sees them. Starting points: the best few of a small quasi-random design
over the domain, each with its radial velocity from cross-correlation, plus the PCA
inverter's answer when an inverter is given. The starts are raced: each gets a few
evaluations, and only those that can still end best are carried on (:func:`_race`).

With a model error (:mod:`.model_error`), the best local fit is polished once more with each
pixel weighted by 1 / (sigma_noise^2 + sigma_model^2), sigma_model taken at that fit's star,
and the covariance counts the model error with its correlation along the spectrum.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import qmc

from ..emulator import SpectrumEmulator
from ..errors import ConfigError, OutOfDomainError, ParameterError
from ..grid.physics import model_caveats
from .jacobian import STEP, perturbed_spectra
from .model import ObservationModel
from .model_error import ModelError, model_covariance, resolve
from .observation import (
    AIR_CONVERSION,
    MIN_SPAN,
    Medium,
    ObservationError,
    doppler_factor,
    prepare_observation,
)
from .radial_velocity import cross_correlate
from .result import FitResult
from .threads import single_blas_thread

RADIAL_VELOCITY_STEP = 0.05
"""Finite-difference step of the radial velocity, km/s."""
RADIAL_VELOCITY_SCALE = 100.0
"""km/s per optimizer unit, so that all fitted quantities are of order one."""
BOUND_TOLERANCE = 1e-4
"""A parameter closer than this (normalized units) to a bound is reported on it."""
POLISH = "model error"
"""Origin of the local fit that polishes the best one with the model error's weights."""
STEP_TOLERANCE = 1e-5
"""A local fit ends when its step is below this (optimizer units: 1e-5 of a parameter's range,
1e-3 km/s), far below any parameter's error, where steps chase the float32 rounding of the
generated spectra (chi^2 wobbles by ~0.01) instead of the minimum."""
RACE_EVALUATIONS = 5
"""Residual evaluations each start gets before the starts are compared (the race)."""
RACE_MARGIN = 0.05
"""After the race, a start whose chi^2 exceeds the best one's by more than this fraction of
it is dropped."""
SAME_BASIN = 0.02
"""A start carried on after the race stops when it comes within this distance (largest
difference, optimizer units) of a finished fit without a lower chi^2: same minimum."""


@dataclass
class _Local:
    """One local least-squares fit."""

    origin: str
    start: np.ndarray
    x: np.ndarray
    cost: float
    status: int
    message: str
    n_evaluations: int


def fit_spectrum(
    generator: SpectrumEmulator,
    wavelength: object,
    flux: object = None,
    error: object = None,
    mask: object = None,
    resolution: float | None = None,
    *,
    fixed: Mapping[str, float] | None = None,
    radial_velocity: float | None = None,
    radial_velocity_range: tuple[float, float] = (-400.0, 400.0),
    continuum_order: int = 2,
    medium: Medium = "air",
    inverter: object = None,
    n_starts: int = 3,
    n_candidates: int = 32,
    max_evaluations: int = 60,
    min_span: float = MIN_SPAN,
    use_jacobian: bool = True,
    model_error: str | ModelError | None = "auto",
    source: str | None = None,
) -> FitResult:
    """Fit stellar parameters, radial velocity and continuum to an observed spectrum.

    The model is the generated spectrum at the parameters, Doppler-shifted, averaged over
    the observed pixels and multiplied by a Chebyshev continuum polynomial (see
    :mod:`spectral_cvae.fitting.model`). It is fitted by bounded least squares
    (``scipy.optimize.least_squares``, trust-region reflective) within the generator's
    domain, from several starts, keeping the lowest chi^2.

    Parameters
    ----------
    generator
        Anything with ``generate(params, latent="mean")``, ``wavelength`` (Angstrom, air)
        and ``space`` (a :class:`~spectral_cvae.parameters.ParameterSpace`), e.g. a
        :class:`~spectral_cvae.model.SpectrumGenerator`. With a ``jacobian(params)`` method
        its derivatives replace finite differences.
    wavelength
        Observed wavelengths, Angstrom (or an astropy Quantity), shape ``(n,)``. Or an
        :class:`~spectral_cvae.io.ObservedSpectrum` or specutils spectrum, with
        ``flux=None``.
    flux
        Observed flux, shape ``(n,)``, in any scale (the continuum polynomial absorbs it).
    error
        One-sigma flux uncertainties, shape ``(n,)``. None: a constant noise is estimated
        from the residuals and the uncertainties are scaled by the reduced chi^2.
    mask
        True for pixels to leave out, shape ``(n,)``. NaN flux is always left out.
    resolution
        Resolving power R of the observation, when known: held fixed. None: fitted.
    fixed
        Other parameters to hold fixed, e.g. ``{"vmic": 1.0}`` (physical units).
    radial_velocity
        Known radial velocity (km/s), held fixed; None: fitted.
    radial_velocity_range
        Bounds of the radial velocity, km/s. Pixels that would leave the generator's window
        at one of these velocities are not fitted.
    continuum_order
        Degree of the Chebyshev continuum polynomial (0: a constant scale factor).
    medium
        ``"air"`` (default; our grids are in air) or ``"vacuum"``: the medium of
        ``wavelength``; vacuum wavelengths are converted to air (Morton 2000).
    inverter
        A fitted :class:`~spectral_cvae.inversion.PCAInverter`: its prediction for the
        spectrum (shifted to rest and divided by the continuum) is one more start.
    n_starts
        Local fits started from the best points of the design. After a few evaluations each,
        starts far worse than the best stop; the others are finished, best first, and stop
        early where they reach a minimum already found.
    n_candidates
        Points of the quasi-random (Sobol) design over the free parameters, generated in one
        batch and ranked by chi^2.
    max_evaluations
        Largest number of residual evaluations per local fit.
    min_span
        Smallest wavelength range (Angstrom) of usable pixels; below it the spectrum is
        refused.
    use_jacobian
        Use the generator's ``jacobian`` method when it has one.
    model_error
        The generator's own error, added to the noise of every pixel (see
        :mod:`spectral_cvae.fitting.model_error`): ``"auto"`` (default) uses the file
        measured for this generator (shipped for the pretrained model; for a model of your
        own, ``<model>.model-error.npz`` beside it), and counts the noise only when there is
        none; ``"none"`` counts the noise only; or a
        :class:`~spectral_cvae.fitting.model_error.ModelError`. Which one was used is in
        ``FitResult.model_error``. Without it, error bars are too small wherever the noise is
        below the generator's error (high S/N).
    source
        Name of the spectrum for messages and the result.

    Returns
    -------
    FitResult

    Raises
    ------
    ObservationError
        (a :class:`~spectral_cvae.errors.SpectrumInputError`) when the spectrum does not
        overlap the generator's window, covers less than ``min_span``, or the shapes
        disagree.
    OutOfDomainError
        A fixed parameter (e.g. ``resolution``) outside the generator's domain.
    """
    started = time.perf_counter()
    space = generator.space
    rest = np.asarray(generator.wavelength, dtype=float)
    observation = prepare_observation(
        wavelength, flux, error, mask,
        window=(float(rest[0]), float(rest[-1])),
        medium=medium,
        radial_velocity_range=radial_velocity_range if radial_velocity is None
        else (radial_velocity, radial_velocity),
        min_span=min_span,
        source=source,
    )
    model = ObservationModel(generator, observation, continuum_order)
    base, free = _fixed_and_free(space, resolution, fixed)
    fit_rv = radial_velocity is None
    n_fitted = len(free) + int(fit_rv) + continuum_order + 1
    if observation.n_used <= n_fitted:
        raise ObservationError(
            f"{observation.source}: {observation.n_used} usable pixels for {n_fitted} fitted "
            f"quantities"
        )
    problem = _Problem(model, base, free, fit_rv, radial_velocity, radial_velocity_range)
    problem.use_jacobian = use_jacobian
    error_model, error_note = resolve(generator, model_error)

    with single_blas_thread():
        starts, notes = _starts(problem, n_candidates, n_starts, inverter)
        fits = _race(problem, starts, max_evaluations)
        best = min(fits, key=lambda f: f.cost)
        noise = None
        if error_model is not None:
            noise = problem.weigh_model_error(error_model, best.x)
            fits.append(problem.local_fit(POLISH, best.x, max_evaluations))
            best = fits[-1]
        return _result(problem, best, fits, notes, started, error_model, error_note, noise)


# -- the problem ---------------------------------------------------------------------------
class _Problem:
    """Residuals and Jacobian of the fitted quantities (free parameters, radial velocity)."""

    def __init__(
        self,
        model: ObservationModel,
        base: np.ndarray,
        free: np.ndarray,
        fit_rv: bool,
        radial_velocity: float | None,
        radial_velocity_range: tuple[float, float],
    ) -> None:
        self.model = model
        self.base = base
        self.free = free
        self.fit_rv = fit_rv
        self.fixed_rv = 0.0 if radial_velocity is None else float(radial_velocity)
        self.rv_range = tuple(sorted(radial_velocity_range))
        self._cache: tuple[bytes, np.ndarray] | None = None

    # Optimizer vector: normalized free parameters, then radial velocity / scale.
    def lower(self) -> np.ndarray:
        rv = [self.rv_range[0] / RADIAL_VELOCITY_SCALE] if self.fit_rv else []
        return np.concatenate([np.zeros(len(self.free)), rv])

    def upper(self) -> np.ndarray:
        rv = [self.rv_range[1] / RADIAL_VELOCITY_SCALE] if self.fit_rv else []
        return np.concatenate([np.ones(len(self.free)), rv])

    def split(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        normalized = self.base.copy()
        normalized[self.free] = x[: len(self.free)]
        rv = x[len(self.free)] * RADIAL_VELOCITY_SCALE if self.fit_rv else self.fixed_rv
        return normalized, float(rv)

    def join(self, normalized: np.ndarray, rv: float) -> np.ndarray:
        rv_part = [rv / RADIAL_VELOCITY_SCALE] if self.fit_rv else []
        return np.concatenate([normalized[self.free], rv_part])

    def spectrum(self, normalized: np.ndarray) -> np.ndarray:
        key = normalized.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.model.generate(normalized[None, :])[0])
        return self._cache[1]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        normalized, rv = self.split(x)
        binned = self.model.shift_and_bin(self.spectrum(normalized)[None, :], rv)
        _, fitted = self.model.solve_continuum(binned)
        return self.model.residuals(fitted[0])

    def jacobian(self, x: np.ndarray, continuum: np.ndarray | None = None) -> np.ndarray:
        """d residuals / d x by central differences; the continuum re-solved at each
        perturbed point (the reduced problem), or held at ``continuum`` if given."""
        normalized, rv = self.split(x)
        centre, upper, lower, distance = perturbed_spectra(
            self.model, normalized, self.free, STEP, self.use_jacobian
        )
        if centre is None:
            centre = self.spectrum(normalized)
        else:
            self._cache = (normalized.tobytes(), centre)
        rows = [upper, lower]
        velocities = [np.full(len(self.free), rv)] * 2
        if self.fit_rv:
            rows += [centre[None, :], centre[None, :]]
            velocities += [[rv + RADIAL_VELOCITY_STEP], [rv - RADIAL_VELOCITY_STEP]]
        binned = self.model.shift_and_bin(np.concatenate(rows), np.concatenate(velocities))
        if continuum is None:
            _, fitted = self.model.solve_continuum(binned)
        else:
            fitted = binned * (self.model.basis @ continuum)[None, :]
        k = len(self.free)
        columns = (fitted[:k] - fitted[k : 2 * k]) / distance[:, None]
        if self.fit_rv:
            step = 2.0 * RADIAL_VELOCITY_STEP / RADIAL_VELOCITY_SCALE
            columns = np.concatenate([columns, (fitted[-2:-1] - fitted[-1:]) / step])
        return -(columns * self.model.weight[None, :]).T

    use_jacobian = True

    def model_sigma(self, error: ModelError, x: np.ndarray) -> np.ndarray:
        """The model error's standard deviation on the fitted pixels at ``x``, flux units
        (the generator's error brought to the pixels and times the fitted continuum)."""
        normalized, rv = self.split(x)
        physical = self.model.physical(normalized)[0]
        names = list(self.model.space.names)
        sigma = error.sigma(physical[names.index("teff")], physical[names.index("vsini")])
        binned = self.model.shift_and_bin(sigma[None, :], rv)
        coefficients, _ = self.model.solve_continuum(
            self.model.shift_and_bin(self.spectrum(normalized)[None, :], rv)
        )
        return np.abs(self.model.basis @ coefficients[0]) * binned[0]

    def weigh_model_error(self, error: ModelError, x: np.ndarray) -> np.ndarray:
        """Weight every fitted pixel by 1 / sqrt(noise^2 + sigma_model^2) at ``x``.

        Returns the noise of each fitted pixel: the given errors, or, when none were given,
        a constant estimated from the residuals at ``x`` less the model error's share.
        """
        sigma = self.model_sigma(error, x)
        observation = self.model.observation
        if observation.error is None:
            residuals = self.residuals(x)
            n_fitted = len(x) + self.model.continuum_order + 1
            variance = residuals @ residuals / max(residuals.size - n_fitted, 1)
            noise = np.full(residuals.size, np.sqrt(
                max(variance - np.mean(sigma**2), 0.1 * variance)
            ))
        else:
            noise = observation.error[observation.used]
        self.model.weight = 1.0 / np.sqrt(noise**2 + sigma**2)
        self.sigma_model = sigma
        return noise

    sigma_model: np.ndarray | None = None

    def local_fit(
        self, origin: str, x0: np.ndarray, max_evaluations: int, callback: object = None
    ) -> _Local:
        """Bounded least squares from ``x0`` (optimizer units); ``callback`` as scipy's."""
        lower, upper = self.lower(), self.upper()
        # Strictly inside, as the trust-region reflective method requires.
        margin = 1e-9 * (upper - lower)
        x0 = np.clip(x0, lower + margin, upper - margin)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            solution = least_squares(
                self.residuals,
                x0,
                jac=self.jacobian,
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
                tr_solver="exact",
                max_nfev=max_evaluations,
                xtol=STEP_TOLERANCE,
                callback=callback,
            )
        return _Local(
            origin,
            x0,
            solution.x,
            float(2.0 * solution.cost),
            int(solution.status),
            str(solution.message),
            int(solution.nfev),
        )


def _fixed_and_free(
    space, resolution: float | None, fixed: Mapping[str, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized starting vector with the fixed values in place, and the free indices."""
    held = dict(fixed or {})
    if resolution is not None:
        if "resolution" not in space.names:
            raise ParameterError(
                f"resolution given, but the generator has no resolution parameter "
                f"({', '.join(space.names)})"
            )
        held["resolution"] = float(resolution)
    base = np.full(len(space), 0.5)
    for name, value in held.items():
        if name not in space.names:
            raise ParameterError(
                f"cannot fix {name!r}: the generator's parameters are {', '.join(space.names)}"
            )
        p = space[name]
        if not p.minimum <= float(value) <= p.maximum:
            unit = f" {p.unit}" if p.unit else ""
            raise OutOfDomainError(
                f"{name} = {float(value):g}{unit} is outside the generator's domain "
                f"[{p.minimum:g}, {p.maximum:g}]"
            )
        index = space.names.index(name)
        point = 0.5 * (space.minimum + space.maximum)
        point[index] = float(value)
        base[index] = space.normalize(point)[0, index]
    free = np.array([i for i, n in enumerate(space.names) if n not in held], dtype=int)
    if free.size == 0:
        raise ConfigError("every parameter is fixed: nothing to fit")
    return base, free


# -- racing the starts ----------------------------------------------------------------------
def _race(
    problem: _Problem, starts: list[tuple[str, np.ndarray]], max_evaluations: int
) -> list[_Local]:
    """Local fits from every start, carried on only as far as they can still matter.

    Every start first gets ``RACE_EVALUATIONS`` residual evaluations. Starts whose chi^2 is
    then more than ``RACE_MARGIN`` (a fraction) above the best one's stop there. The others
    are carried on, best first, up to ``max_evaluations`` in all; one that comes within
    ``SAME_BASIN`` of a fit already finished, without a lower chi^2, stops there too (it is
    heading to the same minimum; scipy status -2). Returned best first.
    """
    budget = min(RACE_EVALUATIONS, max_evaluations)
    raced = [problem.local_fit(origin, x0, budget) for origin, x0 in starts]
    best = min(fit.cost for fit in raced)
    fits: list[_Local] = []
    finished: list[_Local] = []
    for fit in sorted(raced, key=lambda f: f.cost):
        carried = fit.status == 0 and fit.cost <= best * (1.0 + RACE_MARGIN)
        if carried:
            fit = _resume(problem, fit, max_evaluations, finished)
        if fit.status > 0 or (carried and fit.status == 0):
            finished.append(fit)
        fits.append(fit)
    return fits


def _resume(
    problem: _Problem, fit: _Local, max_evaluations: int, finished: list[_Local]
) -> _Local:
    """Carry on a local fit, up to ``max_evaluations`` in all, until it converges or joins
    the basin of one of the ``finished`` fits."""
    left = max_evaluations - fit.n_evaluations
    if left <= 0:
        return fit

    def joined(intermediate_result: object) -> None:  # scipy passes it by this name
        state = intermediate_result
        for other in finished:
            near = np.max(np.abs(state.x - other.x)) <= SAME_BASIN
            if near and 2.0 * state.cost >= other.cost:  # scipy's cost is chi^2 / 2
                raise StopIteration

    more = problem.local_fit(fit.origin, fit.x, left, joined)
    more.start = fit.start
    more.n_evaluations += fit.n_evaluations
    return more


# -- starting points -----------------------------------------------------------------------
def _starts(
    problem: _Problem, n_candidates: int, n_starts: int, inverter: object
) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """The best points of a Sobol design over the free parameters (with the centre), each
    with its cross-correlation radial velocity; plus the inverter's prediction."""
    model, free = problem.model, problem.free
    sobol = qmc.Sobol(len(free), scramble=True, seed=0)
    design = sobol.random(max(n_candidates, 1))
    # Keep starts off the bounds, where the trust region has no room to move.
    design = 0.1 + 0.8 * np.vstack([np.full(len(free), 0.5), design])
    candidates = np.repeat(problem.base[None, :], len(design), axis=0)
    candidates[:, free] = design
    spectra = model.generate(candidates)
    if problem.fit_rv:
        velocities, _ = cross_correlate(
            model.observation, model.rest_wavelength, spectra, problem.rv_range,
            model.continuum_order,
        )
    else:
        velocities = np.full(len(spectra), problem.fixed_rv)
    _, fitted = model.solve_continuum(model.shift_and_bin(spectra, velocities))
    chi2 = (model.residuals(fitted) ** 2).sum(axis=1)
    order = np.argsort(chi2)[: max(n_starts, 1)]
    starts = [("grid", problem.join(candidates[i], velocities[i])) for i in order]
    notes = []
    if inverter is not None:
        try:
            starts.append(("inverter", _inverter_start(problem, inverter, spectra[order[0]],
                                                       velocities[order[0]])))
        except ValueError as exc:
            notes.append(f"inverter start skipped ({exc})")
    return starts, notes


def _inverter_start(
    problem: _Problem, inverter: object, template: np.ndarray, rv: float
) -> np.ndarray:
    """The inverter's parameters for the observed spectrum brought to rest and continuum-
    normalized (gaps filled from the best design spectrum), with its own radial velocity."""
    model = problem.model
    observation = model.observation
    binned = model.shift_and_bin(template[None, :], rv)
    coefficients, _ = model.solve_continuum(binned)
    continuum = model.basis @ coefficients[0]
    used = observation.used
    rest = observation.air_wavelength[used] / doppler_factor(rv)
    normalized_flux = observation.flux[used] / continuum
    wavelength = model.rest_wavelength
    spectrum = np.interp(wavelength, rest, normalized_flux)
    gap = 2.0 * np.median(np.diff(rest))
    nearest = np.abs(rest[np.clip(np.searchsorted(rest, wavelength), 0, rest.size - 1)]
                     - wavelength)
    spectrum = np.where(nearest <= gap, spectrum, template)
    physical = np.asarray(inverter.predict(spectrum[None, :], wavelength=wavelength))[0]
    space = model.space
    normalized = np.clip(space.normalize(np.clip(physical, space.minimum, space.maximum))[0],
                         0.05, 0.95)
    start = problem.base.copy()
    start[problem.free] = normalized[problem.free]
    if problem.fit_rv:
        rv, _ = cross_correlate(observation, wavelength, model.generate(start[None, :]),
                                problem.rv_range, model.continuum_order)
        rv = float(rv[0])
    return problem.join(start, rv)


# -- the result ----------------------------------------------------------------------------
def _result(
    problem: _Problem,
    best: _Local,
    fits: list[_Local],
    notes: list[str],
    started: float,
    error_model: ModelError | None,
    error_note: str,
    noise_given: np.ndarray | None,
) -> FitResult:
    model, space = problem.model, problem.model.space
    observation = model.observation
    normalized, rv = problem.split(best.x)
    spectrum = problem.spectrum(normalized)
    binned = model.shift_and_bin(spectrum[None, :], rv)
    coefficients, fitted = model.solve_continuum(binned)
    coefficients = coefficients[0]
    residuals = model.residuals(fitted[0])
    chi2 = float(residuals @ residuals)
    n_fitted = len(problem.free) + int(problem.fit_rv) + coefficients.size
    dof = observation.n_used - n_fitted
    noise_estimated = observation.error is None
    noise = (np.sqrt(chi2 / dof) if noise_estimated
             else float(np.median(observation.error[observation.used])))
    if noise_given is not None and noise_estimated:
        noise = float(noise_given[0])

    # Full Jacobian (free parameters, radial velocity, continuum) with the continuum held,
    # so the covariance includes the continuum's correlations with everything else.
    reduced = problem.jacobian(best.x, continuum=coefficients)
    continuum_columns = -(binned[0][:, None] * model.basis) * model.weight[:, None]
    jacobian = np.hstack([reduced, continuum_columns])
    covariance, singular = _covariance(jacobian)
    inflation = float("nan")
    noise_only = covariance
    if error_model is not None:
        # The same fit's errors had only the noise counted (Jacobian weighted by 1 / noise).
        noise_only, _ = _covariance(jacobian / (model.weight * noise_given)[:, None])
        vsini = float(model.physical(normalized)[0, list(space.names).index("vsini")])
        covariance, inflation = _with_model_error(
            covariance, jacobian, model.weight, noise_given, problem.sigma_model,
            error_model, vsini, model.centre, len(problem.free),
        )
    elif noise_estimated:
        covariance = covariance * chi2 / dof
        noise_only = covariance
        chi2 = float(dof)
    # From optimizer units to physical ones.
    scale = np.concatenate([
        space.derivative(normalized)[0, problem.free],
        [RADIAL_VELOCITY_SCALE] if problem.fit_rv else [],
        np.ones(coefficients.size),
    ])
    covariance = covariance * np.outer(scale, scale)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    errors[~np.isfinite(np.diag(covariance))] = np.inf

    physical = model.physical(normalized)[0]
    names = space.names
    k = len(problem.free)
    uncertainties = {n: float("nan") for n in names}
    noise_uncertainties = dict(uncertainties)
    with np.errstate(invalid="ignore"):
        noise_errors = np.sqrt(np.diag(noise_only)) * np.abs(scale)
    for j, i in enumerate(problem.free):
        uncertainties[names[i]] = float(errors[j])
        noise_uncertainties[names[i]] = float(noise_errors[j])
    on_bound = {}
    for i in problem.free:
        if normalized[i] <= BOUND_TOLERANCE:
            on_bound[names[i]] = "lower"
        elif normalized[i] >= 1.0 - BOUND_TOLERANCE:
            on_bound[names[i]] = "upper"
    if problem.fit_rv:
        tolerance = BOUND_TOLERANCE * (problem.rv_range[1] - problem.rv_range[0])
        if rv <= problem.rv_range[0] + tolerance:
            on_bound["radial_velocity"] = "lower"
        elif rv >= problem.rv_range[1] - tolerance:
            on_bound["radial_velocity"] = "upper"

    # The model on every pixel inside the window at this velocity, masked ones included.
    window = model.rest_wavelength[[0, -1]] * doppler_factor(rv) * (1.0 + np.array([-1, 1]) * 1e-9)
    inside = (observation.air_wavelength >= window[0]) & (
        observation.air_wavelength <= window[1]
    )
    full_model = np.full(observation.wavelength.size, np.nan)
    if inside.any():
        pixels = (
            observation.air_wavelength[inside],
            observation.upper_edge[inside] - observation.lower_edge[inside],
        )
        full_model[inside] = (
            model.shift_and_bin(spectrum[None, :], rv, pixels)[0]
            * (model.continuum_basis(observation.air_wavelength[inside]) @ coefficients)
        )

    message = best.message
    if on_bound:
        message += "; on a bound: " + ", ".join(f"{n} ({s})" for n, s in on_bound.items())
    if singular:
        message += "; the covariance matrix is singular (a parameter has no effect on the " \
                   "model), its uncertainties are unreliable"
    message += "".join(f"; {note}" for note in notes)
    model_sigma = None
    if error_model is not None:
        model_sigma = np.full(observation.wavelength.size, np.nan)
        model_sigma[observation.used] = problem.sigma_model
    covariance_names = tuple(names[i] for i in problem.free)
    covariance_names += ("radial_velocity",) if problem.fit_rv else ()
    covariance_names += tuple(f"c{j}" for j in range(coefficients.size))
    starts = [
        {
            "origin": f.origin,
            "start": _named(problem, f.start),
            "end": _named(problem, f.x),
            # Unit weights when the noise was estimated, except in the model error's polish.
            "chi2": f.cost / noise**2 if noise_estimated and f.origin != POLISH else f.cost,
            "status": f.status,
            "n_evaluations": f.n_evaluations,
        }
        for f in fits
    ]
    return FitResult(
        parameters={n: float(v) for n, v in zip(names, physical)},
        uncertainties=uncertainties,
        units=dict(zip(names, space.units)),
        fixed=tuple(n for i, n in enumerate(names) if i not in problem.free),
        radial_velocity=rv,
        radial_velocity_error=float(errors[k]) if problem.fit_rv else float("nan"),
        continuum_coefficients=coefficients,
        continuum_errors=errors[k + int(problem.fit_rv):],
        continuum_domain=model.domain,
        covariance=covariance,
        covariance_names=covariance_names,
        chi2=chi2,
        reduced_chi2=chi2 / dof,
        dof=dof,
        n_pixels=observation.n_used,
        noise_estimated=noise_estimated,
        noise=float(noise),
        converged=best.status > 0,
        status=best.status,
        message=message,
        on_bound=on_bound,
        medium=observation.medium,
        air_conversion=AIR_CONVERSION if observation.medium == "vacuum" else None,
        wavelength=observation.wavelength,
        air_wavelength=observation.air_wavelength,
        flux=observation.flux,
        error=observation.error,
        used=observation.used,
        excluded=observation.excluded,
        model=full_model,
        starts=starts,
        n_generated=model.n_generated,
        n_generate_calls=model.n_calls,
        elapsed=time.perf_counter() - started,
        source=observation.source,
        radial_velocity_range=problem.rv_range,
        model_error=error_note,
        model_sigma=model_sigma,
        model_error_inflation=inflation,
        noise_uncertainties=noise_uncertainties,
        physics_caveats=model_caveats(
            getattr(model.generator, "provenance", {}), dict(zip(names, map(float, physical)))
        ),
    )


def _named(problem: _Problem, x: np.ndarray) -> dict:
    normalized, rv = problem.split(x)
    physical = problem.model.physical(normalized)[0]
    out = {problem.model.space.names[i]: float(physical[i]) for i in problem.free}
    out["radial_velocity"] = rv
    return out


def _with_model_error(
    covariance: np.ndarray,
    jacobian: np.ndarray,
    weight: np.ndarray,
    noise: np.ndarray,
    sigma: np.ndarray,
    error: ModelError,
    vsini: float,
    wavelength: np.ndarray,
    n_free: int,
) -> tuple[np.ndarray, float]:
    """The covariance of weighted least squares when the data err by noise and by the
    generator's correlated error: A^-1 J^T W (N + C_model) W J A^-1 (a sandwich; A^-1 is
    ``covariance``, J the weighted ``jacobian``; the first ``n_free`` columns are the
    stellar parameters).

    Also returns the factor by which the correlation multiplies the model error's share of
    the stellar parameters' variances (the geometric mean over them): the posterior sampler
    uses it to inflate sigma_model^2 in its diagonal likelihood.
    """
    bad = ~np.isfinite(covariance)
    inverse = np.where(bad, 0.0, covariance)
    noise_part = (jacobian * (noise * weight)[:, None] ** 2).T @ jacobian
    uncorrelated = (jacobian * (sigma * weight)[:, None] ** 2).T @ jacobian
    correlated = model_covariance(error, vsini, wavelength, sigma * weight, jacobian)
    total = inverse @ (noise_part + correlated) @ inverse
    total[bad] = np.inf
    share = np.diag(inverse @ correlated @ inverse)
    diagonal = np.diag(inverse @ uncorrelated @ inverse)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (share / diagonal)[:n_free]
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return total, float(np.exp(np.mean(np.log(ratio)))) if ratio.size else 1.0


def _covariance(jacobian: np.ndarray) -> tuple[np.ndarray, bool]:
    """(J^T J)^-1; directions J does not constrain give infinite variances.

    Columns are scaled to unit norm before the eigen-decomposition of the small normal
    matrix, so that parameters of very different sensitivity do not pass for degenerate.
    """
    norm = np.linalg.norm(jacobian, axis=0)
    norm = np.where(norm > 0, norm, 1.0)
    scaled = jacobian / norm
    values, vectors = np.linalg.eigh(scaled.T @ scaled)
    tiny = values <= max(values[-1], 0.0) * 1e-14
    inverse = np.where(tiny, 0.0, 1.0 / np.where(tiny, 1.0, values))
    covariance = (vectors * inverse) @ vectors.T / np.outer(norm, norm)
    if tiny.any():
        affected = np.abs(vectors[:, tiny]).max(axis=1) > 1e-6
        covariance[affected, :] = np.inf
        covariance[:, affected] = np.inf
    return covariance, bool(tiny.any())
