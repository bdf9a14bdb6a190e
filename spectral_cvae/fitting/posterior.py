"""Posterior sampling of a fit with emcee, for users who want more than the covariance.

The posterior of the fitted quantities (free stellar parameters and radial velocity) is

    p(theta, v | data) ∝ prior(theta, v) * ∫ exp(-chi^2(theta, v, c) / 2) dc

with flat priors inside the generator's domain and the fit's radial velocity range (zero
outside), and the Chebyshev continuum coefficients c marginalized analytically: they enter
linearly, so for a flat prior on them the integral is

    exp(-chi^2_min(theta, v) / 2) / sqrt(det(A^T W A)),

chi^2_min being the continuum solved by weighted least squares as in the fit, A the design
matrix of the continuum (model spectrum times each Chebyshev polynomial). The walkers of
emcee's affine-invariant ensemble start around the least-squares optimum, drawn from its
covariance; every step generates the spectra of half the ensemble in one ``generate()``
call.

When the fit counted the generator's own error (``FitResult.model_error``), the likelihood
counts it too: each pixel's variance is sigma_noise^2 + k sigma_model^2, sigma_model the
fit's model error at its optimum and k (``FitResult.model_error_inflation``) the factor by
which the error's correlation along the spectrum widens the fit's covariance: a diagonal
likelihood that keeps the same error budget as the fit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..emulator import SpectrumEmulator
from ..errors import ConfigError
from ..files import atomic_path
from .model import ObservationModel
from .observation import prepare_observation
from .result import FitResult, _number

PERCENTILES = (15.865525393145708, 50.0, 84.13447460685429)
"""The median and the one-sigma quantiles of a normal distribution, percent."""

Progress = Callable[[int, int], object]
"""Called as ``progress(step, n_steps)`` after each step; returning False stops sampling."""


@dataclass
class PosteriorSamples:
    """Markov chains of the fitted quantities, with their summary.

    Attributes
    ----------
    names : tuple of str
        The sampled quantities: the free parameters, then ``radial_velocity`` if fitted.
    units : tuple of str
        Their units (``"km / s"`` for the radial velocity).
    chain : numpy.ndarray
        Positions of every walker at every step, physical units, shape
        ``(n_steps, n_walkers, n_dim)``.
    log_probability : numpy.ndarray
        Log posterior (up to a constant) at each position, shape ``(n_steps, n_walkers)``.
    n_burn : int
        Steps discarded at the start of each chain for :attr:`samples` and the percentiles.
    acceptance_fraction : numpy.ndarray
        Fraction of proposals accepted by each walker, shape ``(n_walkers,)``; 0.2-0.5 is
        healthy for the stretch move.
    autocorrelation_time : numpy.ndarray
        Integrated autocorrelation time of each quantity in steps (emcee's estimate over
        the chains after burn-in), shape ``(n_dim,)``; NaN where no estimate could be had.
    autocorrelation_reliable : bool
        Whether the kept chains are longer than 50 autocorrelation times, emcee's criterion
        for trusting the estimate (otherwise run longer).
    percentiles : dict
        Name -> (16th, 50th, 84th percentile) of the kept samples, physical units.
    best_fit : dict
        Name -> the least-squares value the walkers started around.
    best_fit_errors : dict
        Name -> its one-sigma error from the least-squares covariance.
    covariance : numpy.ndarray
        The least-squares covariance of the sampled quantities (continuum marginalized),
        shape ``(n_dim, n_dim)``: compare with :meth:`sample_covariance`.
    fixed : dict
        Quantities held fixed during sampling, name -> value (physical units).
    lower, upper : numpy.ndarray
        The prior's bounds of each quantity, shape ``(n_dim,)``.
    noise_estimated : bool
        The spectrum had no uncertainties: a constant noise (``noise``) estimated by the
        fit was used as every pixel's.
    noise : float
        That noise, or the median given uncertainty, flux units.
    model_error : str
        The fit's model error, counted in the likelihood (or ``"none: ..."``).
    seed : int or None
        Seed of the walkers' start and of the moves; the same seed repeats the chains.
    stopped : bool
        Sampling ended before ``n_steps`` (``progress`` returned False).
    n_generated : int
        Spectra generated while sampling.
    elapsed : float
        Wall-clock time, s.
    source : str
        The spectrum's origin.
    """

    names: tuple
    units: tuple
    chain: np.ndarray
    log_probability: np.ndarray
    n_burn: int
    acceptance_fraction: np.ndarray
    autocorrelation_time: np.ndarray
    autocorrelation_reliable: bool
    percentiles: dict
    best_fit: dict
    best_fit_errors: dict
    covariance: np.ndarray
    fixed: dict = field(default_factory=dict)
    lower: np.ndarray = field(default_factory=lambda: np.empty(0))
    upper: np.ndarray = field(default_factory=lambda: np.empty(0))
    noise_estimated: bool = False
    noise: float = float("nan")
    model_error: str = "none: the likelihood counts the noise only"
    seed: int | None = None
    stopped: bool = False
    n_generated: int = 0
    elapsed: float = 0.0
    source: str = "spectrum"

    @property
    def n_steps(self) -> int:
        """Steps run by each walker."""
        return self.chain.shape[0]

    @property
    def n_walkers(self) -> int:
        """Walkers in the ensemble."""
        return self.chain.shape[1]

    @property
    def samples(self) -> np.ndarray:
        """The kept samples of all walkers, burn-in removed, shape ``(n, n_dim)``."""
        return self.chain[self.n_burn :].reshape(-1, self.chain.shape[2])

    @property
    def median(self) -> dict:
        """Name -> posterior median, physical units."""
        return {n: p[1] for n, p in self.percentiles.items()}

    @property
    def errors(self) -> dict:
        """Name -> (lower, upper) one-sigma error: median minus 16th, 84th minus median."""
        return {n: (p[1] - p[0], p[2] - p[1]) for n, p in self.percentiles.items()}

    def sample_covariance(self) -> np.ndarray:
        """Covariance of the kept samples, shape ``(n_dim, n_dim)``, physical units."""
        return np.atleast_2d(np.cov(self.samples, rowvar=False))

    def __repr__(self) -> str:
        parts = [f"{n} = {p[1]:.5g} -{p[1] - p[0]:.2g}/+{p[2] - p[1]:.2g}"
                 for n, p in self.percentiles.items()]
        return f"PosteriorSamples({self.source}: {', '.join(parts)})"

    def summary(self) -> str:
        """A human-readable table: percentiles beside the least-squares values."""
        lines = [
            f"posterior of {self.source}: {self.n_walkers} walkers x {self.n_steps} steps"
            f" ({self.n_burn} burn-in){', STOPPED early' if self.stopped else ''}, "
            f"mean acceptance {self.acceptance_fraction.mean():.2f}"
        ]
        for j, name in enumerate(self.names):
            low, mid, high = self.percentiles[name]
            tau = self.autocorrelation_time[j]
            lines.append(
                f"  {name:>15} = {mid:.6g} -{mid - low:.3g} +{high - mid:.3g} {self.units[j]}"
                f"   (least squares {self.best_fit[name]:.6g} +- "
                f"{self.best_fit_errors[name]:.3g}; tau {tau:.3g} steps)".replace("  (", " (")
            )
        if not self.autocorrelation_reliable:
            lines.append("  chains shorter than 50 autocorrelation times: run more steps "
                         "before trusting the tails")
        return "\n".join(lines)

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready summary (no chains: see :meth:`save`)."""
        return {
            "source": self.source,
            "names": list(self.names),
            "units": list(self.units),
            "percentiles": {n: [float(x) for x in p] for n, p in self.percentiles.items()},
            "percentile_levels": list(PERCENTILES),
            "best_fit": {n: float(v) for n, v in self.best_fit.items()},
            "best_fit_errors": {n: _number(v) for n, v in self.best_fit_errors.items()},
            "fixed": {n: float(v) for n, v in self.fixed.items()},
            "n_walkers": self.n_walkers,
            "n_steps": self.n_steps,
            "n_burn": self.n_burn,
            "acceptance_fraction": float(self.acceptance_fraction.mean()),
            "autocorrelation_time": [_number(x) for x in self.autocorrelation_time],
            "autocorrelation_reliable": bool(self.autocorrelation_reliable),
            "continuum": "marginalized (flat prior on the Chebyshev coefficients)",
            "prior": "flat inside the generator's domain and the radial velocity range",
            "noise_estimated": bool(self.noise_estimated),
            "noise": _number(self.noise),
            "model_error": self.model_error,
            "seed": self.seed,
            "stopped": bool(self.stopped),
            "n_generated": int(self.n_generated),
            "elapsed_s": float(self.elapsed),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the chains and their summary to a NumPy ``.npz`` file (atomically).

        Arrays: ``chain`` (n_steps, n_walkers, n_dim), ``log_probability``, ``names``,
        ``units``, ``lower``, ``upper``, ``covariance``, ``acceptance_fraction``,
        ``autocorrelation_time``, ``n_burn``; ``summary`` holds :meth:`to_dict` as JSON.
        """
        import json

        path = Path(path)
        with atomic_path(path, suffix=".npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(
                    handle,
                    chain=self.chain,
                    log_probability=self.log_probability,
                    names=np.array(self.names),
                    units=np.array(self.units),
                    lower=self.lower,
                    upper=self.upper,
                    covariance=self.covariance,
                    acceptance_fraction=self.acceptance_fraction,
                    autocorrelation_time=self.autocorrelation_time,
                    n_burn=self.n_burn,
                    summary=json.dumps(self.to_dict()),
                )
        return path

    def corner(self, path: str | os.PathLike | None = None, figure=None, **options):
        """Corner plot of the kept samples (see :func:`corner_plot`); written to ``path``
        if given."""
        from .corner import corner_plot

        labels = [f"{n} ({u})" if u else n for n, u in zip(self.names, self.units)]
        figure = corner_plot(
            self.samples, labels, reference=np.array([self.best_fit[n] for n in self.names]),
            covariance=self.covariance, figure=figure, **options,
        )
        if path is not None:
            with atomic_path(path, suffix=Path(path).suffix) as temporary:
                figure.savefig(temporary, dpi=100)
        return figure


def sample_posterior(
    generator: SpectrumEmulator,
    fit: FitResult | object,
    flux: object = None,
    error: object = None,
    mask: object = None,
    *,
    n_walkers: int | None = None,
    n_steps: int = 1000,
    n_burn: int | None = None,
    seed: int | None = 0,
    progress: bool | Progress = False,
    **fit_options: object,
) -> PosteriorSamples:
    """Sample the posterior of a fit's parameters and radial velocity with emcee.

    Parameters
    ----------
    generator
        The generator the fit used (see :class:`~spectral_cvae.emulator.SpectrumEmulator`).
    fit
        A :class:`~spectral_cvae.fitting.FitResult` of this generator; its pixels, weights,
        continuum order, fixed parameters and radial velocity range are kept. Or the
        observed wavelengths (or a spectrum object), with ``flux``, ``error``, ``mask`` and
        ``fit_options`` as for :func:`~spectral_cvae.fitting.fit_spectrum`, which is then
        run first.
    flux, error, mask
        See :func:`~spectral_cvae.fitting.fit_spectrum` (only when ``fit`` is not a
        FitResult).
    n_walkers
        Walkers of the ensemble; default four times the number of sampled quantities
        (at least 16, rounded up to even).
    n_steps
        Steps of each walker.
    n_burn
        Steps dropped from the start of each chain before the percentiles; default a
        quarter of ``n_steps`` (the walkers start near the optimum, so little is needed).
    seed
        Seed of the starting ball and of emcee's moves; the same seed gives the same chains.
        None: fresh randomness.
    progress
        True: a tqdm progress bar. A callable: called as ``progress(step, n_steps)`` after
        every step; if it returns False, sampling stops there (``stopped`` is then True).
    **fit_options
        Passed to :func:`~spectral_cvae.fitting.fit_spectrum` when ``fit`` is not a result.

    Returns
    -------
    PosteriorSamples

    Raises
    ------
    ImportError
        emcee is not installed (``pip install "spectral-cvae[fit]"``).
    ConfigError
        (a ValueError) Too few walkers or steps, or a FitResult together with fit
        arguments.
    """
    try:
        import emcee
    except ImportError as exc:  # pragma: no cover - emcee is in the locked extras
        raise ImportError(
            'posterior sampling needs emcee: pip install "spectral-cvae[fit]"'
        ) from exc
    started = time.perf_counter()
    if not isinstance(fit, FitResult):
        from .optimizer import fit_spectrum

        fit = fit_spectrum(generator, fit, flux, error, mask, **fit_options)
    elif flux is not None or error is not None or mask is not None or fit_options:
        raise ConfigError("pass either a FitResult or the arguments of fit_spectrum, not both")

    target = _Posterior(generator, fit)
    n_dim = len(target.names)
    if n_walkers is None:
        n_walkers = max(16, 4 * n_dim)
        n_walkers += n_walkers % 2
    if n_walkers < 2 * n_dim or n_walkers % 2:
        raise ConfigError(
            f"n_walkers must be even and at least twice the {n_dim} sampled quantities, "
            f"got {n_walkers}"
        )
    if n_steps < 2:
        raise ConfigError(f"n_steps must be at least 2, got {n_steps}")
    n_burn = n_steps // 4 if n_burn is None else int(n_burn)
    if not 0 <= n_burn < n_steps:
        raise ConfigError(f"n_burn must lie in [0, n_steps), got {n_burn}")

    rng = np.random.default_rng(seed)
    start = target.starting_ball(n_walkers, rng)
    sampler = emcee.EnsembleSampler(n_walkers, n_dim, target, vectorize=True)
    # emcee draws its moves from a legacy RandomState of its own: seed it too.
    sampler.random_state = np.random.RandomState(
        rng.integers(2**32, dtype=np.uint64) if seed is not None else None
    ).get_state()

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="steps", desc="sampling", disable=None)
    stopped = False
    steps = 0
    for _ in sampler.sample(start, iterations=n_steps):
        steps += 1
        if bar is not None:
            bar.update()
        elif callable(progress) and progress(steps, n_steps) is False and steps < n_steps:
            stopped = True
            break
    if bar is not None:
        bar.close()

    chain = sampler.get_chain()[:steps]
    log_probability = sampler.get_log_prob()[:steps]
    n_burn = min(n_burn, max(steps - 1, 0))
    kept = chain[n_burn:]
    tau = _autocorrelation_time(kept)
    reliable = bool(np.all(np.isfinite(tau)) and len(kept) > 50 * np.max(tau))
    flat = kept.reshape(-1, n_dim)
    quantiles = np.percentile(flat, PERCENTILES, axis=0)
    return PosteriorSamples(
        names=target.names,
        units=target.units,
        chain=chain,
        log_probability=log_probability,
        n_burn=n_burn,
        acceptance_fraction=np.asarray(sampler.acceptance_fraction, dtype=float),
        autocorrelation_time=tau,
        autocorrelation_reliable=reliable,
        percentiles={n: tuple(float(q) for q in quantiles[:, j])
                     for j, n in enumerate(target.names)},
        best_fit=dict(zip(target.names, map(float, target.optimum))),
        best_fit_errors=dict(zip(target.names,
                                 map(float, np.sqrt(np.diag(target.covariance))))),
        covariance=target.covariance,
        fixed=target.fixed,
        lower=target.lower,
        upper=target.upper,
        noise_estimated=fit.noise_estimated,
        noise=float(fit.noise),
        model_error=fit.model_error,
        seed=seed,
        stopped=stopped,
        n_generated=target.n_generated,
        elapsed=time.perf_counter() - started,
        source=fit.source,
    )


class _Posterior:
    """The log posterior of a fit's free quantities, vectorized over walkers."""

    def __init__(self, generator: SpectrumEmulator, fit: FitResult) -> None:
        space = generator.space
        self.generator = generator
        self.space = space
        self.fit_rv = "radial_velocity" in fit.covariance_names
        rv_range = (
            tuple(fit.radial_velocity_range) if self.fit_rv
            else (fit.radial_velocity, fit.radial_velocity)
        )
        # The fit's own pixels, and as weights its uncertainties or the noise it estimated.
        error = fit.error if fit.error is not None else np.full(fit.flux.size, fit.noise)
        if fit.model_sigma is not None:
            inflation = fit.model_error_inflation
            inflation = inflation if np.isfinite(inflation) and inflation > 0 else 1.0
            error = np.sqrt(error**2 + inflation * np.nan_to_num(fit.model_sigma) ** 2)
        rest = np.asarray(generator.wavelength, dtype=float)
        observation = prepare_observation(
            fit.wavelength, fit.flux, error, ~fit.used,
            window=(float(rest[0]), float(rest[-1])), medium=fit.medium,
            radial_velocity_range=rv_range, min_span=0.0, source=fit.source,
        )
        self.model = ObservationModel(
            generator, observation, continuum_order=len(fit.continuum_coefficients) - 1
        )
        self.free = np.array([i for i, n in enumerate(space.names) if n not in fit.fixed],
                             dtype=int)
        self.base = np.array([fit.parameters[n] for n in space.names], dtype=float)
        names = [space.names[i] for i in self.free]
        units = [space.units[i] for i in self.free]
        lower = list(space.minimum[self.free])
        upper = list(space.maximum[self.free])
        if self.fit_rv:
            names.append("radial_velocity")
            units.append("km / s")
            lower.append(rv_range[0])
            upper.append(rv_range[1])
        self.names, self.units = tuple(names), tuple(units)
        self.lower, self.upper = np.array(lower, float), np.array(upper, float)
        self.fixed = {n: fit.parameters[n] for n in fit.fixed}
        if not self.fit_rv:
            self.fixed["radial_velocity"] = float(fit.radial_velocity)
        self.fixed_rv = float(fit.radial_velocity)
        self.optimum = np.array(
            [fit.parameters[n] for n in names if n != "radial_velocity"]
            + ([fit.radial_velocity] if self.fit_rv else []),
            dtype=float,
        )
        # The covariance block of the sampled quantities: with the continuum rows and
        # columns dropped, it is the covariance with the continuum marginalized.
        index = [fit.covariance_names.index(n) for n in names]
        self.covariance = np.asarray(fit.covariance, float)[np.ix_(index, index)]
        self.n_generated = 0

    def starting_ball(self, n_walkers: int, rng: np.random.Generator) -> np.ndarray:
        """Walkers drawn from the least-squares Gaussian, redrawn until inside the prior.

        Where the covariance is unusable (a parameter without effect), a ball of 1e-3 of
        the range is drawn instead.
        """
        n_dim = len(self.names)
        span = self.upper - self.lower
        covariance = self.covariance
        if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) <= 0):
            covariance = np.diag((1e-3 * np.where(span > 0, span, 1.0)) ** 2)
        try:
            root = np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError:
            root = np.diag(np.sqrt(np.clip(np.diag(covariance), 0.0, None)))
        # Never wider than a tenth of the prior: a poorly constrained direction would
        # otherwise scatter walkers over the whole domain.
        width = np.sqrt(np.sum(root**2, axis=1))
        root = root * np.minimum(1.0, 0.1 * span / np.where(width > 0, width, 1.0))[:, None]
        margin = 1e-9 * span
        low, high = self.lower + margin, self.upper - margin
        centre = np.clip(self.optimum, low, high)
        ball = np.empty((n_walkers, n_dim))
        missing = np.arange(n_walkers)
        for _ in range(100):
            draws = centre + rng.standard_normal((missing.size, n_dim)) @ root.T
            inside = np.all((draws > low) & (draws < high), axis=1)
            ball[missing[inside]] = draws[inside]
            missing = missing[~inside]
            if missing.size == 0:
                break
        if missing.size:
            ball[missing] = np.clip(
                centre + rng.standard_normal((missing.size, n_dim)) @ root.T, low, high
            )
        return ball

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Log posterior (up to a constant) of walkers ``(m, n_dim)``, -inf outside."""
        positions = np.atleast_2d(positions)
        out = np.full(len(positions), -np.inf)
        inside = np.all((positions >= self.lower) & (positions <= self.upper), axis=1)
        inside &= np.all(np.isfinite(positions), axis=1)
        if not inside.any():
            return out
        points = positions[inside]
        k = len(self.free)
        physical = np.repeat(self.base[None, :], len(points), axis=0)
        physical[:, self.free] = points[:, :k]
        velocity = points[:, k] if self.fit_rv else np.full(len(points), self.fixed_rv)
        spectra = np.asarray(self.generator.generate(physical, latent="mean"), dtype=float)
        self.n_generated += len(points)
        out[inside] = self.log_likelihood(self.model.shift_and_bin(spectra, velocity))
        return out

    def log_likelihood(self, binned: np.ndarray) -> np.ndarray:
        """-chi^2_min / 2 - log det(A^T W A) / 2 for each binned spectrum ``(m, n)``: the
        likelihood with the linear continuum coefficients integrated out (flat prior)."""
        model = self.model
        design = binned[:, :, None] * model.basis[None, :, :] * model.weight[None, :, None]
        normal = np.einsum("mnk,mnl->mkl", design, design)
        rhs = np.einsum("mnk,n->mk", design, model.flux * model.weight)
        sign, log_det = np.linalg.slogdet(normal)
        good = sign > 0
        result = np.full(len(binned), -np.inf)
        if not good.any():
            return result
        coefficients = np.linalg.solve(normal[good], rhs[good][:, :, None])[:, :, 0]
        residual = model.flux * model.weight - np.einsum("mnk,mk->mn", design[good],
                                                        coefficients)
        result[good] = -0.5 * np.einsum("mn,mn->m", residual, residual) - 0.5 * log_det[good]
        return result


def _autocorrelation_time(chain: np.ndarray) -> np.ndarray:
    """emcee's integrated autocorrelation time of each quantity, NaN where none is had."""
    import emcee

    if len(chain) < 4:
        return np.full(chain.shape[2], np.nan)
    try:
        tau = emcee.autocorr.integrated_time(chain, quiet=True, tol=0)
    except Exception:  # emcee raises on degenerate chains; an estimate is optional
        return np.full(chain.shape[2], np.nan)
    return np.where(np.isfinite(tau) & (tau > 0), tau, np.nan)
