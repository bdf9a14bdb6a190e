"""The outcome of a fit: parameters with uncertainties, the model, and how the fit went."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev

from ..files import atomic_path


@dataclass
class FitResult:
    """Best-fit stellar parameters of an observed spectrum, with their uncertainties.

    Attributes
    ----------
    parameters : dict
        Best-fit value of every generator parameter (teff K, logg dex, vsini km/s, mh dex,
        vmic km/s, resolution), fitted or fixed.
    uncertainties : dict
        One-sigma uncertainty of each parameter, same units; NaN for fixed ones. From the
        covariance (J^T W J)^-1 at the optimum, scaled by the reduced chi^2 when the noise
        was estimated (``noise_estimated``); with a model error (``model_error``), the
        covariance of the weighted fit under noise plus the generator's correlated error.
    units : dict
        Unit of each parameter.
    fixed : tuple of str
        Parameters held fixed (e.g. ``resolution`` when it was given).
    radial_velocity, radial_velocity_error : float
        km/s, positive receding (error NaN when the radial velocity was fixed).
    continuum_coefficients, continuum_errors : numpy.ndarray
        Chebyshev coefficients of the continuum polynomial and their one-sigma errors; the
        polynomial's argument is the air wavelength mapped from ``continuum_domain`` onto
        [-1, 1] (see :meth:`continuum`).
    continuum_domain : tuple of float
        Air wavelengths (Angstrom) mapped to -1 and +1.
    covariance : numpy.ndarray
        Covariance of the fitted quantities, in the order of ``covariance_names`` (physical
        units: the free parameters, ``radial_velocity`` when fitted, ``c0``, ``c1``, ...).
    covariance_names : tuple of str
    chi2, reduced_chi2 : float
        Chi^2 over the fitted pixels, and chi^2 / ``dof``.
    dof : int
        Fitted pixels less fitted quantities.
    n_pixels : int
        Pixels used by the fit.
    noise_estimated : bool
        True when no uncertainties were given and a constant noise was estimated from the
        residuals (then ``reduced_chi2`` is 1 by construction).
    noise : float
        The estimated constant noise (flux units), or the median given uncertainty.
    converged : bool
        Whether the optimizer met a convergence criterion (scipy ``status`` > 0).
    status : int
        scipy.optimize.least_squares status of the best start.
    message : str
        What the optimizer said, and anything worth knowing (bounds reached, starts).
    on_bound : dict
        Parameters that ended on a bound of the generator's domain (or of the radial
        velocity range): name -> ``"lower"`` or ``"upper"``. Their uncertainties describe
        the curvature at the bound only: the true value may lie outside the domain.
    medium : str
        ``"air"`` or ``"vacuum"``: the wavelengths given.
    air_conversion : str or None
        How vacuum wavelengths were converted to air (None when air was given).
    wavelength, flux, error : numpy.ndarray
        The observed spectrum as given (Angstrom, in ``medium``); ``error`` may be None.
    air_wavelength : numpy.ndarray
        The same wavelengths in air.
    used : numpy.ndarray of bool
        Pixels that entered the fit.
    excluded : dict
        Pixels left out, by reason.
    model : numpy.ndarray
        Best-fit model on every observed pixel inside the generator's window (NaN outside).
    starts : list of dict
        Each local fit: where it started (``origin``: ``"grid"``, ``"inverter"``, or
        ``"model error"`` for the polish of the best one with the model error's weights),
        its starting and final parameters, chi^2 and status.
    n_generated : int
        Spectra generated during the fit (``n_generate_calls`` calls to ``generate``).
    elapsed : float
        Wall-clock time of the fit, s.
    source : str
        The spectrum's origin (file name).
    radial_velocity_range : tuple of float
        The radial velocities (km/s) the fit could take: the bounds of its search, which
        :func:`~spectral_cvae.fitting.sample_posterior` keeps as the prior's.
    model_error : str
        What the uncertainties count besides the noise: the generator's own error measured
        on stars it was validated on (``model_error="auto"`` with a model-error file), or
        ``"none: ..."`` when they count the noise only (too small at high S/N).
    model_sigma : numpy.ndarray or None
        The generator's error on every pixel at the fitted star, flux units (standard
        deviation; NaN on pixels not fitted); None without a model error.
    model_error_inflation : float
        How much the model error's correlation along the spectrum multiplies its share of
        the parameter variances over independent pixels (NaN without a model error); the
        posterior sampler's likelihood inflates sigma_model^2 by it.
    noise_uncertainties : dict
        The one-sigma uncertainties of the same fit counting the noise alone (equal to
        ``uncertainties`` without a model error): what the error bars would be if the
        generator were exact.
    physics_caveats : list of str
        What the physics of the generator's training grid lacks at the fitted star (no
        molecular lines in cool stars, no He I in hot ones; see
        :func:`~spectral_cvae.grid.physics.physics_caveats`): where the fit may be biased
        beyond its error bars.
    """

    parameters: dict
    uncertainties: dict
    units: dict
    fixed: tuple
    radial_velocity: float
    radial_velocity_error: float
    continuum_coefficients: np.ndarray
    continuum_errors: np.ndarray
    continuum_domain: tuple
    covariance: np.ndarray
    covariance_names: tuple
    chi2: float
    reduced_chi2: float
    dof: int
    n_pixels: int
    noise_estimated: bool
    noise: float
    converged: bool
    status: int
    message: str
    on_bound: dict
    medium: str
    air_conversion: str | None
    wavelength: np.ndarray
    air_wavelength: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    used: np.ndarray
    excluded: dict
    model: np.ndarray
    starts: list = field(default_factory=list)
    n_generated: int = 0
    n_generate_calls: int = 0
    elapsed: float = 0.0
    source: str = "spectrum"
    radial_velocity_range: tuple = (-400.0, 400.0)
    model_error: str = "none: the uncertainties count the noise only"
    model_sigma: np.ndarray | None = None
    model_error_inflation: float = float("nan")
    noise_uncertainties: dict = field(default_factory=dict)
    physics_caveats: list = field(default_factory=list)

    # -- derived ---------------------------------------------------------------------------
    def continuum(self, air_wavelength: np.ndarray | None = None) -> np.ndarray:
        """The fitted continuum polynomial at air wavelengths (default: every pixel)."""
        w = self.air_wavelength if air_wavelength is None else np.asarray(air_wavelength, float)
        low, high = self.continuum_domain
        return chebyshev.chebval((2.0 * w - (low + high)) / (high - low),
                                 self.continuum_coefficients)

    @property
    def residual(self) -> np.ndarray:
        """Data minus model on every pixel (NaN where either is missing)."""
        return self.flux - self.model

    def __repr__(self) -> str:
        return f"FitResult({self.source}: {self._line()})"

    def _line(self) -> str:
        parts = []
        for name, value in self.parameters.items():
            error = self.uncertainties[name]
            text = f"{name} = {value:.5g}" + ("" if np.isnan(error) else f" +- {error:.2g}")
            parts.append(text + (" (fixed)" if name in self.fixed else ""))
        parts.append(f"radial_velocity = {self.radial_velocity:.3f} +- "
                     f"{self.radial_velocity_error:.2g} km/s")
        parts.append(f"reduced chi2 = {self.reduced_chi2:.3g}")
        return ", ".join(parts)

    def summary(self) -> str:
        """A human-readable table of the fit."""
        lines = [f"fit of {self.source}: {'converged' if self.converged else 'NOT converged'}"
                 f" ({self.message})"]
        for name, value in self.parameters.items():
            unit = self.units.get(name, "")
            error = self.uncertainties[name]
            note = " fixed" if name in self.fixed else ""
            if name in self.on_bound:
                note += f" ON {self.on_bound[name].upper()} BOUND"
            error_text = "" if np.isnan(error) else f" +- {error:.3g}"
            lines.append(f"  {name:>12} = {value:.6g}{error_text} {unit}{note}".rstrip())
        rv_note = " ON BOUND" if "radial_velocity" in self.on_bound else ""
        lines.append(f"  radial_velocity = {self.radial_velocity:.4g} +- "
                     f"{self.radial_velocity_error:.2g} km/s{rv_note}")
        lines.append(f"  chi2 = {self.chi2:.6g} over {self.n_pixels} pixels, dof {self.dof}, "
                     f"reduced chi2 = {self.reduced_chi2:.4g}"
                     + (f" (noise estimated: {self.noise:.3g})" if self.noise_estimated else ""))
        lines.append(f"  wavelengths: {self.medium}"
                     + (f" ({self.air_conversion})" if self.air_conversion else ""))
        lines.append(f"  model error: {self.model_error}")
        lines += [f"  physics: {caveat}" for caveat in self.physics_caveats]
        return "\n".join(lines)

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self, spectra: bool = False) -> dict:
        """A JSON-ready description of the fit.

        Parameters
        ----------
        spectra
            Include the observed wavelengths, flux, error, mask of used pixels and the
            model (long lists); without them the dictionary is a few kilobytes.
        """
        out = {
            "source": self.source,
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "uncertainties": {k: _number(v) for k, v in self.uncertainties.items()},
            "units": dict(self.units),
            "fixed": list(self.fixed),
            "radial_velocity": float(self.radial_velocity),
            "radial_velocity_error": _number(self.radial_velocity_error),
            "radial_velocity_unit": "km / s",
            "radial_velocity_range": [float(x) for x in self.radial_velocity_range],
            "continuum": {
                "kind": "Chebyshev",
                "domain_angstrom_air": [float(x) for x in self.continuum_domain],
                "coefficients": [float(x) for x in self.continuum_coefficients],
                "errors": [_number(x) for x in self.continuum_errors],
            },
            "covariance": {
                "names": list(self.covariance_names),
                "matrix": [[_number(x) for x in row] for row in np.asarray(self.covariance)],
            },
            "chi2": float(self.chi2),
            "reduced_chi2": float(self.reduced_chi2),
            "dof": int(self.dof),
            "n_pixels": int(self.n_pixels),
            "noise_estimated": bool(self.noise_estimated),
            "noise": _number(self.noise),
            "converged": bool(self.converged),
            "status": int(self.status),
            "message": self.message,
            "on_bound": dict(self.on_bound),
            "medium": self.medium,
            "air_conversion": self.air_conversion,
            "excluded_pixels": dict(self.excluded),
            "wavelength_range_angstrom": [float(self.wavelength[0]), float(self.wavelength[-1])],
            "starts": [_plain(s) for s in self.starts],
            "n_generated": int(self.n_generated),
            "n_generate_calls": int(self.n_generate_calls),
            "elapsed_s": float(self.elapsed),
            "model_error": self.model_error,
            "model_error_inflation": _number(self.model_error_inflation),
            "noise_uncertainties": {k: _number(v) for k, v in self.noise_uncertainties.items()},
            "physics_caveats": list(self.physics_caveats),
        }
        if spectra:
            out["spectrum"] = {
                "wavelength_angstrom": _list(self.wavelength),
                "flux": _list(self.flux),
                "error": None if self.error is None else _list(self.error),
                "used": [bool(x) for x in self.used],
                "model": _list(self.model),
                "model_sigma": None if self.model_sigma is None else _list(self.model_sigma),
            }
        return out

    def to_json(self, path: str | os.PathLike | None = None, spectra: bool = False) -> str:
        """The :meth:`to_dict` form as JSON text; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(spectra=spectra), indent=2)
        if path is not None:
            with atomic_path(path) as temporary:
                Path(temporary).write_text(text + "\n")
        return text

    # -- display ---------------------------------------------------------------------------
    def plot(self, path: str | os.PathLike | None = None, figure=None):
        """Data, model and residual in two panels (matplotlib).

        Parameters
        ----------
        path
            Write the figure there (PNG, PDF, ...) and close it.
        figure
            A matplotlib figure to draw into; default a new one.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib

        if figure is None and path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if figure is None:
            figure = plt.figure(figsize=(11, 5.5))
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        w = self.wavelength
        data = np.where(self.used, self.flux, np.nan)
        left_out = np.where(~self.used & np.isfinite(self.flux), self.flux, np.nan)
        top.plot(w, left_out, color="0.75", lw=0.6, label="left out")
        top.plot(w, data, color="k", lw=0.6, label="data")
        top.plot(w, self.model, color="tab:red", lw=0.8, label="model")
        top.set_ylabel("flux")
        top.legend(loc="lower left", fontsize=8, ncols=3)
        title = ", ".join(
            f"{k} = {v:.4g}" + ("" if np.isnan(self.uncertainties[k])
                                 else f" ± {self.uncertainties[k]:.2g}")
            for k, v in self.parameters.items()
        )
        top.set_title(f"{Path(self.source).name}: {title}\nradial velocity = "
                      f"{self.radial_velocity:.2f} ± {self.radial_velocity_error:.2g} km/s, "
                      f"reduced χ² = {self.reduced_chi2:.3g}", fontsize=9)
        bottom.plot(w, data - self.model, color="k", lw=0.5)
        bottom.axhline(0.0, color="tab:red", lw=0.8)
        bottom.set_ylabel("data − model")
        bottom.set_xlabel(f"wavelength ({self.medium}), Å")
        figure.tight_layout()
        if path is not None:
            with atomic_path(path, suffix=Path(path).suffix) as temporary:
                figure.savefig(temporary, dpi=110)
            plt.close(figure)
        return figure


def _number(value: float) -> float | None:
    """A float for JSON; None for NaN and infinities (JSON has no such numbers)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _list(array: np.ndarray) -> list:
    return [_number(x) for x in np.asarray(array, dtype=float)]


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _number(value)
    return value
