"""Rotational and instrumental broadening as differentiable Keras layers.

A network that generates only the base spectrum of (Teff, log g, [M/H], xi_t) on a grid
uniform in ln(lambda) hands it to :class:`Broadening`, which applies v sin i and the resolving
power R exactly as :func:`spectral_cvae.grid.broaden` does with ``oversample=None``: edge-value
padding, FFT, the analytic transfer functions of Gray's rotational profile and of a Gaussian
of FWHM = lambda / R, inverse FFT, and a cubic spline sampled at the output wavelengths.

Everything inside ``call`` is ``keras.ops``, so the layer runs under the TensorFlow, JAX and
PyTorch backends and is differentiable in the base flux, v sin i and R. NumPy is used only at
construction, for constants (frequencies, the output stencil).

>>> layer = Broadening()                                            # doctest: +SKIP
>>> flux = layer(base_flux, vsini, resolution)   # (batch, 53853), (batch,), (batch,)
>>> flux.shape                                                      # doctest: +SKIP
(batch, 19000)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops
from scipy import fft

from ..constants import SPEED_OF_LIGHT
from ..grid.broadening import FWHM_TO_SIGMA, GAUSSIAN_REACH
from ..grid.wavelength import log_uniform_grid, paper_wavelength

BASE_WINDOW = (4440.0, 5410.0)
"""Window of the base spectra, Angstrom: the paper's 4450-5400 A plus 10 A for broadening."""
BASE_VELOCITY_STEP = 1.1
"""Step of the base log grid, km/s: no coarser than 0.02 A anywhere in the base window."""

# Chebyshev coefficients, derived for this module by interpolating the exact functions
# (scipy.special.j1, y1 and spherical_jn in float64) at the Chebyshev points, for
# x <= _SPLIT in t = 2 (x / _SPLIT)^2 - 1 (degree 12) and for x >= _SPLIT in
# t = 2 (_SPLIT / x)^2 - 1 (degree 7). Each is accurate to 1e-13 or better (the tests check
# J1 to 1e-10 against scipy); a series in x^2 keeps the even functions exactly even.
_SPLIT = 8.0
_DISC = (  # J1(x) / x, x <= 8
    0.08104484632565809,
    -0.14897514506765203,
    0.16099926235720963,
    -0.08268049176681785,
    0.022213639654965946,
    -0.0036469406007692065,
    0.0004050337728354,
    -3.2555548668486535e-05,
    1.9858774049057574e-06,
    -9.521984753628851e-08,
    3.687133767634863e-09,
    -1.1780268951669492e-10,
    3.1588377421347954e-12,
)
_CAP = (  # (sin x - x cos x) / x^3, x <= 8: the direct form cancels to nothing near 0
    0.060848253523660446,
    -0.12296572284630511,
    0.09852544013723898,
    -0.04023206314289726,
    0.00925772036785783,
    -0.0013557062786789939,
    0.00013755388832861025,
    -1.025858321202566e-05,
    5.869454760928134e-07,
    -2.6608771033097e-08,
    9.801815045751789e-10,
    -2.9937325897838195e-11,
    7.705444529843555e-13,
)
# Hankel's form for x >= 8 (Abramowitz & Stegun 9.2.5): with chi = x - 3 pi / 4,
# J1(x) = sqrt(2 / (pi x)) [P(x) cos chi - Q(x) sin chi]; _P is P, _Q is Q x / 8.
_P = (
    1.0009030408600137,
    0.0008989898330860058,
    -3.987284300554589e-06,
    6.17763397381399e-08,
    -1.8718905869796743e-09,
    8.81688888565435e-11,
    -5.704312347996898e-12,
    4.64406291200703e-13,
)
_Q = (
    0.04677778706953534,
    -9.627723549159722e-05,
    9.13861525841301e-07,
    -2.09597814000706e-08,
    8.22919333370864e-10,
    -4.6863554703513444e-11,
    3.514594919349495e-12,
    -3.218883493083524e-13,
)


def _chebyshev(coefficients: tuple[float, ...], t):
    """Sum of ``coefficients[k] * T_k(t)`` by Clenshaw's recurrence (stable in float32)."""
    b1 = ops.zeros_like(t)
    b2 = ops.zeros_like(t)
    twice_t = 2.0 * t
    for c in coefficients[:0:-1]:
        b1, b2 = c + twice_t * b1 - b2, b1
    return coefficients[0] + t * b1 - b2


def _split_arguments(x):
    """(t for x <= 8, x clamped to >= 8, x <= 8) for the two branches of the expansions.

    Both branches are evaluated everywhere and ``ops.where`` picks one, so each is given an
    argument inside its own range: the unused branch then has finite values and gradients,
    which keeps the gradient finite at v sin i = 0 (a where() over an inf is NaN).
    """
    small = x <= _SPLIT
    inner = ops.minimum(x, _SPLIT) / _SPLIT
    outer = ops.maximum(x, _SPLIT)
    return 2.0 * inner * inner - 1.0, outer, small


def _hankel_j1(x):
    """J1(x) for x >= 8 from the Chebyshev expansions of P and Q."""
    t = 2.0 * (_SPLIT / x) ** 2 - 1.0
    chi = x - 0.75 * math.pi
    return ops.sqrt(2.0 / (math.pi * x)) * (
        _chebyshev(_P, t) * ops.cos(chi) - (_SPLIT / x) * _chebyshev(_Q, t) * ops.sin(chi)
    )


def bessel_j1(x):
    """Bessel function of the first kind of order 1, with ``keras.ops``.

    Parameters
    ----------
    x
        Tensor of any shape and float dtype.

    Returns
    -------
    Tensor
        J1(x), absolute error below 1e-10 in float64 (float32 rounding in float32).
    """
    magnitude = ops.abs(x)
    t, outer, small = _split_arguments(magnitude)
    value = ops.where(small, magnitude * _chebyshev(_DISC, t), _hankel_j1(outer))
    return ops.sign(x) * value


def rotation_transfer(frequency, vsini, limb_darkening: float = 0.6):
    """Fourier transform of Gray's rotational profile, with ``keras.ops``.

    Parameters
    ----------
    frequency
        Frequencies in cycles per (km/s), a tensor (its dtype is used throughout);
        broadcast against ``vsini``.
    vsini
        Projected rotation velocity, km/s. The transform is even in ``vsini``, so its
        gradient at 0 is 0, as it is for the true profile.
    limb_darkening
        Linear limb-darkening coefficient epsilon, in [0, 1].

    Returns
    -------
    Tensor
        1 at zero frequency; the same function as
        :func:`spectral_cvae.grid.broadening.rotation_transfer`.

    Notes
    -----
    With w = 2 pi f v sin i, the transform is a pi J1(w) / w + 4 b (sin w - w cos w) / w^3,
    a = 2 (1 - eps) / [pi (1 - eps/3)], b = eps / [2 (1 - eps/3)] (Gray 2005, eq. 18.14).
    """
    eps = float(limb_darkening)
    a = 2.0 * (1.0 - eps) / (math.pi * (1.0 - eps / 3.0))
    b = eps / (2.0 * (1.0 - eps / 3.0))
    frequency = ops.convert_to_tensor(frequency)
    w = 2.0 * math.pi * frequency * ops.abs(ops.cast(vsini, frequency.dtype))
    t, outer, small = _split_arguments(w)
    # Below 8 the whole transform is one Chebyshev series: the two expansions are linear in
    # the same basis, so their weighted sum is the sum of their coefficients.
    near = _chebyshev(tuple(a * math.pi * d + 4.0 * b * c for d, c in zip(_DISC, _CAP)), t)
    # Above 8, with chi = w - 3 pi / 4, cos chi = (sin w - cos w) / sqrt 2 and
    # sin chi = -(sin w + cos w) / sqrt 2: one sine and one cosine serve J1 and the cap term.
    sine, cosine = ops.sin(outer), ops.cos(outer)
    inverse = 1.0 / outer
    t_far = 2.0 * (_SPLIT * inverse) ** 2 - 1.0
    p = _chebyshev(_P, t_far)
    q = (_SPLIT * inverse) * _chebyshev(_Q, t_far)
    disc = (a * math.pi) * inverse * ops.sqrt(inverse / math.pi)  # a pi sqrt(1 / pi w) / w
    cap = (4.0 * b) * inverse * inverse
    far = sine * (disc * (p + q) + cap * inverse) + cosine * (disc * (q - p) - cap)
    return ops.where(small, near, far)


def gaussian_transfer(frequency, resolution):
    """Fourier transform of a Gaussian of FWHM = lambda / R, with ``keras.ops``.

    Parameters
    ----------
    frequency
        Frequencies in cycles per (km/s); broadcast against ``resolution``.
    resolution
        Resolving power R (> 0; ``inf`` gives 1).
    """
    frequency = ops.convert_to_tensor(frequency)
    sigma = (SPEED_OF_LIGHT * FWHM_TO_SIGMA) / ops.cast(resolution, frequency.dtype)
    return ops.exp(-2.0 * (math.pi * sigma * frequency) ** 2)


def _uniform_description(values: np.ndarray) -> dict | list:
    """{"start", "step", "n"} if ``start + step * arange(n)`` gives ``values`` back, else a list."""
    values = np.asarray(values, dtype=float)
    if values.size >= 2:
        mean_step = (values[-1] - values[0]) / (values.size - 1)
        # uniform_grid() multiplies a round step such as 0.05: try that first.
        for step in (float(f"{mean_step:.12g}"), mean_step):
            if np.array_equal(values[0] + step * np.arange(values.size), values):
                return {"start": float(values[0]), "step": float(step), "n": int(values.size)}
    return values.tolist()


def _from_description(description: dict | list | np.ndarray | None) -> np.ndarray:
    if description is None:
        return paper_wavelength()
    if isinstance(description, dict):
        return description["start"] + description["step"] * np.arange(description["n"])
    return np.asarray(description, dtype=float)


def _cubic_bspline(s: np.ndarray) -> np.ndarray:
    """The centred cubic B-spline at ``s`` (in pixels)."""
    s = np.abs(s)
    return np.where(s < 1, 2 / 3 - s**2 + s**3 / 2, np.where(s < 2, (2 - s) ** 3 / 6, 0.0))


@keras.saving.register_keras_serializable(package="spectral_cvae")
class Broadening(keras.layers.Layer):
    """Rotation (v sin i) then a Gaussian instrument (R), from a base log grid to any output.

    Call it as ``layer(flux, vsini, resolution)``:

    - ``flux``: base spectra on :attr:`log_wavelength`, shape ``(batch, n_log)``,
      continuum-normalized;
    - ``vsini``: km/s, shape ``(batch,)`` or ``(batch, 1)``;
    - ``resolution``: the resolving power R itself (not log R), same shapes; a network that
      predicts log10 R passes ``10.0 ** log_r``.

    It returns ``(batch, len(wavelength_out))``: the same result as
    ``grid.broaden(log_wavelength, flux, vsini, resolution, wavelength_out, oversample=None)``.

    Parameters
    ----------
    base_start, base_stop
        Window of the base log grid, Angstrom (see
        :func:`~spectral_cvae.grid.wavelength.log_uniform_grid`).
    velocity_step
        Step of the base log grid, km/s.
    wavelength_out
        Output wavelengths in Angstrom, strictly increasing, inside the base window; default
        the paper's 4450-5400 A at 0.05 A. Also accepted as ``{"start", "step", "n"}``.
    limb_darkening
        Linear limb-darkening coefficient of the rotational profile.
    max_vsini, min_resolution
        The broadest case to pad for, km/s and R: the base spectrum is continued with its end
        values over v sin i + 7 sigma of the instrument, as in ``grid.broaden``. Broader
        cases still run, but then output within that reach of the base window's ends mixes
        in the other end (the FFT is circular).
    clip
        Clip the result at 0, as ``grid.broaden`` does (the spline can undershoot next to
        saturated cores); the gradient is 0 where clipped.

    Notes
    -----
    The output spline is applied as a fixed stencil: its prefilter (the inverse of the cubic
    B-spline's sampled transform, 3 / (2 + cos 2 pi k / N)) is folded into the Fourier
    multiplication, leaving four B-spline weights per output pixel, one gather each. This is
    the periodic cardinal cubic spline of the padded FFT grid. ``grid.broaden`` fits a
    not-a-knot spline to the stretch it trims to (the broadening reach around
    ``wavelength_out``); the two differ only through the spline's end conditions, whose
    influence decays by a factor 0.27 per pixel: measured <= 3.2e-7 in flux on the paper's
    grid, the float32 rounding of the layer.
    """

    def __init__(
        self,
        base_start: float = BASE_WINDOW[0],
        base_stop: float = BASE_WINDOW[1],
        velocity_step: float = BASE_VELOCITY_STEP,
        wavelength_out: np.ndarray | dict | list | None = None,
        limb_darkening: float = 0.6,
        max_vsini: float = 300.0,
        min_resolution: float = 1000.0,
        clip: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 <= limb_darkening <= 1:
            raise ValueError(f"limb_darkening must lie in [0, 1], got {limb_darkening}")
        if not (max_vsini >= 0 and min_resolution > 0):
            raise ValueError(
                f"need max_vsini >= 0 and min_resolution > 0, got {max_vsini}, {min_resolution}"
            )
        self.base_start = float(base_start)
        self.base_stop = float(base_stop)
        self.velocity_step = float(velocity_step)
        self.limb_darkening = float(limb_darkening)
        self.max_vsini = float(max_vsini)
        self.min_resolution = float(min_resolution)
        self.clip = bool(clip)
        self._wavelength_out_config = (
            None if wavelength_out is None else _uniform_description(_from_description(
                wavelength_out))
        )
        self.log_wavelength = log_uniform_grid(base_start, base_stop, velocity_step)
        self.wavelength_out = _from_description(self._wavelength_out_config)
        n_log, out = self.log_wavelength.size, self.wavelength_out
        if (
            out.ndim != 1
            or out.size < 2
            or np.any(np.diff(out) <= 0)
            or out[0] < self.log_wavelength[0]
            or out[-1] > self.log_wavelength[-1]
        ):
            raise ValueError(
                f"wavelength_out must increase strictly within the base grid "
                f"{self.log_wavelength[0]:.3f}-{self.log_wavelength[-1]:.3f} A"
            )

        reach = max_vsini + GAUSSIAN_REACH * FWHM_TO_SIGMA * SPEED_OF_LIGHT / min_resolution
        self.pad = int(np.ceil(reach / velocity_step)) + 2
        n_fft = fft.next_fast_len(n_log + 2 * self.pad, real=True)
        while n_fft % 2:  # an even length keeps the Nyquist bin real on every backend
            n_fft = fft.next_fast_len(n_fft + 1, real=True)
        self.n_fft = n_fft
        k = np.arange(n_fft // 2 + 1)
        self._frequency = k / (n_fft * velocity_step)
        self._prefilter = 3.0 / (2.0 + np.cos(2.0 * np.pi * k / n_fft))
        # Output position in pixels of the padded grid; the cubic B-spline has four taps.
        position = np.log(out / self.log_wavelength[0]) * SPEED_OF_LIGHT / velocity_step
        position += self.pad
        left = np.floor(position).astype(int)
        frac = position - left
        self._taps = [
            ((left + j).astype("int32"), _cubic_bspline(frac - j)) for j in (-1, 0, 1, 2)
        ]

    def _tensors(self) -> dict:
        """The construction-time constants as tensors of the compute dtype.

        Made in each call rather than kept: a tensor made inside one traced function (a
        TensorFlow graph, a JAX trace) cannot be used in another.
        """
        dtype = self.compute_dtype
        return {
            "frequency": ops.convert_to_tensor(self._frequency[None, :], dtype=dtype),
            "prefilter": ops.convert_to_tensor(self._prefilter[None, :], dtype=dtype),
            "taps": [
                (
                    ops.convert_to_tensor(index, dtype="int32"),
                    ops.convert_to_tensor(weight[None, :], dtype=dtype),
                )
                for index, weight in self._taps
            ],
        }

    def _check_flux_shape(self, shape) -> None:
        if len(shape) != 2 or (shape[-1] is not None and shape[-1] != self.log_wavelength.size):
            raise ValueError(
                f"Broadening expects base flux of shape (batch, {self.log_wavelength.size}) "
                f"on its log grid, got {tuple(shape)}"
            )

    def build(self, flux_shape, vsini_shape=None, resolution_shape=None) -> None:
        self._check_flux_shape(flux_shape)
        super().build(flux_shape)

    def call(self, flux, vsini, resolution):
        # Checked here too: build() runs only for the first input.
        self._check_flux_shape(flux.shape)
        constants = self._tensors()
        dtype = self.compute_dtype
        vsini = ops.reshape(ops.cast(vsini, dtype), (-1, 1))
        resolution = ops.reshape(ops.cast(resolution, dtype), (-1, 1))
        # The transfer functions are 1 at zero frequency and the spline weights sum to 1, so
        # the continuum can be taken out first: float32 FFTs then carry only the lines.
        lines = ops.cast(flux, dtype) - 1.0
        padded = ops.concatenate(
            [
                ops.repeat(lines[:, :1], self.pad, axis=1),
                lines,
                ops.repeat(lines[:, -1:], self.n_fft - self.pad - self.log_wavelength.size, axis=1),
            ],
            axis=1,
        )
        real, imag = ops.rfft(padded)
        frequency = constants["frequency"]
        transfer = (
            rotation_transfer(frequency, vsini, self.limb_darkening)
            * gaussian_transfer(frequency, resolution)
            * constants["prefilter"]
        )
        coefficients = ops.irfft((real * transfer, imag * transfer), fft_length=self.n_fft)
        out = None
        for index, weight in constants["taps"]:
            term = weight * ops.take(coefficients, index, axis=1)
            out = term if out is None else out + term
        out = out + 1.0
        return ops.maximum(out, 0.0) if self.clip else out

    def compute_output_shape(self, flux_shape, vsini_shape=None, resolution_shape=None):
        return (flux_shape[0], self.wavelength_out.size)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            base_start=self.base_start,
            base_stop=self.base_stop,
            velocity_step=self.velocity_step,
            wavelength_out=self._wavelength_out_config,
            limb_darkening=self.limb_darkening,
            max_vsini=self.max_vsini,
            min_resolution=self.min_resolution,
            clip=self.clip,
        )
        return config


__all__ = [
    "BASE_VELOCITY_STEP",
    "BASE_WINDOW",
    "Broadening",
    "bessel_j1",
    "gaussian_transfer",
    "rotation_transfer",
]
