"""Atomic line lists: the Gaia-ESO list converted to SYNSPEC's format.

The Gaia-ESO line list (Heiter et al. 2021, A&A 645, A106) comes in Turbospectrum's format:
species blocks headed by ``'Z.iso' ion nlines`` and a name, then one line per transition with
wavelength (A, air), lower-level energy (eV), log gf, a van der Waals field, g_up, gamma_rad
(s^-1) and labels. SYNSPEC reads one transition per line (its "NEW" text format)::

    lambda(nm, air)  Z.ion  log(gf)  E_low(cm^-1)  J_low  E_up(cm^-1)  J_up
    log(gamma_rad)  log(gamma_Stark)  log(gamma_vdW)  0

Approximations made by :func:`convert_gaia_eso` (each costs little next to the atomic data's
own errors, and is listed here so a user can judge it):

* Wavelengths stay in air, which SYNSPEC expects above 2000 A; E_up = E_low + 1e8 / lambda_vac
  with lambda_vac from the IAU (Morton 2000) refractive index.
* Van der Waals damping. A field >= 20 holds Anstee-Barklem-O'Mara (sigma, alpha), which we
  turn into log gamma6 per hydrogen atom at 10^4 K (:func:`abo_log_gamma6`). SYNSPEC then
  scales gamma6 with (T / 10^4 K)^0.3 instead of ABO's T^((1 - alpha) / 2): exact at 10^4 K,
  within 8 % at 5000 K for the typical alpha = 0.25. A negative field is already log gamma6
  and is kept. Other values (Unsold enhancement factors) become 0, which makes SYNSPEC use
  its classical (Unsold-type) value without the factor.
* Stark damping is not in the list: 0, SYNSPEC's classical estimate.
* Radiative damping: log10 of the list's gamma_rad; 0 (classical) where it is 0.
* Isotopes: species tagged with a mass number (Li 6/7, Cu 63/65, Ba, La, Pr, Nd, Sm, Eu) get
  log10 of the solar isotopic fraction added to log gf, since SYNSPEC knows elements only.
* J_low is not in the list and SYNSPEC's LTE opacity does not use it (gf is given): 0 is
  written. J_up = (g_up - 1) / 2.
* No hydrogen lines (SYNSPEC computes the Balmer lines itself) and no molecules: spectra of
  the coolest stars (below ~4500 K) lack MgH, C2 and TiO bands.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...constants import BOLTZMANN
from ...files import commit
from ..wavelength import vacuum_to_air
from .elements import ATOMIC_WEIGHT, ISOTOPE_FRACTION
from .errors import SynthesisError

EV_TO_WAVENUMBER = 8065.544
"""1 eV in cm^-1."""
BOHR_RADIUS = 0.52917721e-8
"""cm."""
ATOMIC_MASS_UNIT = 1.66053907e-24
"""g."""


@dataclass(frozen=True)
class LineList:
    """Atomic transitions in SYNSPEC's terms, sorted by wavelength.

    Attributes
    ----------
    wavelength
        Air wavelength, Angstrom.
    code
        SYNSPEC species code Z + (ionization stage - 1) / 100, e.g. 26.01 for Fe II.
    log_gf
        log10 of the oscillator strength times g_low (isotopic fraction included).
    e_low
        Lower-level energy, cm^-1.
    j_up
        Upper-level J.
    log_gamma_rad, log_gamma_vdw
        log10 of the radiative damping (s^-1) and of the van der Waals gamma6 per hydrogen
        atom at 10^4 K (rad s^-1 cm^3); 0 means "let SYNSPEC use its classical value".
    """

    wavelength: np.ndarray
    code: np.ndarray
    log_gf: np.ndarray
    e_low: np.ndarray
    j_up: np.ndarray
    log_gamma_rad: np.ndarray
    log_gamma_vdw: np.ndarray

    def __len__(self) -> int:
        return len(self.wavelength)

    def window(self, start: float, stop: float) -> LineList:
        """The lines with ``start <= wavelength <= stop`` (Angstrom)."""
        keep = (self.wavelength >= start) & (self.wavelength <= stop)
        return LineList(**{k: v[keep] for k, v in self.__dict__.items()})

    def write_synspec(self, path: str | os.PathLike) -> Path:
        """Write the list in SYNSPEC's text format (atomically)."""
        vacuum = air_to_vacuum(self.wavelength)
        e_up = self.e_low + 1e8 / vacuum
        j_low = np.zeros(len(self))
        rows = np.column_stack(
            [
                self.wavelength / 10.0,
                self.code,
                self.log_gf,
                self.e_low,
                j_low,
                e_up,
                self.j_up,
                self.log_gamma_rad,
                np.zeros(len(self)),
                self.log_gamma_vdw,
            ]
        )
        path = Path(path)
        # A unique temporary name: parallel workers may convert the same window at once.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(handle)
        try:
            np.savetxt(
                temporary,
                rows,
                fmt="%11.5f %6.2f %7.3f %12.3f %4.1f %12.3f %4.1f %6.2f %6.2f %7.3f 0",
            )
            return commit(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def read_gaia_eso(path: str | os.PathLike) -> LineList:
    """Read the Gaia-ESO line list (Turbospectrum format) and convert it to SYNSPEC's terms.

    Parameters
    ----------
    path
        The Turbospectrum-format file.

    Returns
    -------
    LineList
        All atomic lines, sorted by wavelength, with the approximations of this module's
        description applied.

    Raises
    ------
    SynthesisError
        Naming the file and line for a header or transition that cannot be read.
    """
    columns: dict[str, list] = {k: [] for k in ("wavelength", "e_low", "log_gf", "damping")}
    columns.update(g_up=[], gamma_rad=[], code=[], mass_number=[])
    lines = Path(path).read_text().splitlines()
    number = 0
    while number < len(lines):
        header = lines[number]
        if not header.strip():
            number += 1
            continue
        try:
            species, rest = header.split("'")[1], header.split("'")[2].split()
            element, isotope = species.strip().split(".")
            z, ion, count = int(element), int(rest[0]), int(rest[1])
        except (IndexError, ValueError):
            raise SynthesisError(
                f"{path}, line {number + 1}: expected a species header like "
                f"\"'  26.000   '  1  2342\", found {header!r}"
            ) from None
        first = number + 2
        for offset, text in enumerate(lines[first : first + count]):
            fields = text.split()
            try:
                values = [float(f) for f in fields[:6]]
            except ValueError:
                raise SynthesisError(
                    f"{path}, line {first + offset + 1}: cannot read a transition from {text!r}"
                ) from None
            for key, value in zip(
                ("wavelength", "e_low", "log_gf", "damping", "g_up", "gamma_rad"), values
            ):
                columns[key].append(value)
        columns["code"].extend([z + (ion - 1) / 100.0] * count)
        columns["mass_number"].extend([int(isotope)] * count)
        number = first + count
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    atomic_number = np.floor(arrays["code"]).astype(int)
    order = np.argsort(arrays["wavelength"], kind="stable")
    log_gf = arrays["log_gf"] + _log_isotope_fraction(atomic_number, arrays["mass_number"], path)
    gamma_rad = arrays["gamma_rad"]
    return LineList(
        wavelength=arrays["wavelength"][order],
        code=arrays["code"][order],
        log_gf=log_gf[order],
        e_low=(arrays["e_low"] * EV_TO_WAVENUMBER)[order],
        j_up=((arrays["g_up"] - 1.0) / 2.0)[order],
        log_gamma_rad=np.where(gamma_rad > 0, np.log10(np.maximum(gamma_rad, 1e-30)), 0.0)[order],
        log_gamma_vdw=_log_gamma_vdw(arrays["damping"], atomic_number)[order],
    )


def abo_log_gamma6(sigma: np.ndarray, alpha: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """log10 of the van der Waals width per H atom at 10^4 K from ABO theory.

    Parameters
    ----------
    sigma
        Broadening cross-section at 10^4 m/s relative velocity, in units of a0^2.
    alpha
        Velocity exponent of the cross-section.
    mass
        Atomic weight of the absorber, u.

    Returns
    -------
    numpy.ndarray
        log10 gamma6 (full width, rad s^-1 cm^3), the convention of SYNSPEC and Kurucz.

    Notes
    -----
    Anstee & O'Mara (1995), Barklem et al. (1998): the half-width per perturber is
    (4/pi)^(alpha/2) Gamma((4 - alpha)/2) v0 sigma (v_bar / v0)^(1 - alpha), with
    v0 = 10^4 m/s and v_bar = sqrt(8 k T / (pi mu)) for the absorber-hydrogen reduced mass mu.
    """
    temperature = 1e4
    v0 = 1e6  # cm/s
    mu = ATOMIC_MASS_UNIT * mass * 1.008 / (mass + 1.008)
    v_bar = np.sqrt(8.0 * BOLTZMANN * temperature / (np.pi * mu))
    gamma_function = np.vectorize(math.gamma)(2.0 - alpha / 2.0)
    half_width = (
        (4.0 / np.pi) ** (alpha / 2.0)
        * gamma_function
        * v0
        * sigma
        * BOHR_RADIUS**2
        * (v_bar / v0) ** (1.0 - alpha)
    )
    return np.log10(2.0 * half_width)


def _log_gamma_vdw(field: np.ndarray, atomic_number: np.ndarray) -> np.ndarray:
    out = np.zeros_like(field)
    negative = field < 0
    out[negative] = field[negative]
    abo = field >= 20
    sigma = np.floor(field[abo])
    alpha = field[abo] - sigma
    out[abo] = abo_log_gamma6(sigma, alpha, ATOMIC_WEIGHT[atomic_number[abo] - 1])
    return out


def _log_isotope_fraction(
    atomic_number: np.ndarray, mass_number: np.ndarray, path: str | os.PathLike
) -> np.ndarray:
    out = np.zeros(len(atomic_number))
    for z, a in set(zip(atomic_number[mass_number > 0], mass_number[mass_number > 0])):
        if (z, a) not in ISOTOPE_FRACTION:
            raise SynthesisError(f"{path}: no solar isotopic fraction for Z = {z}, A = {a}")
        out[(atomic_number == z) & (mass_number == a)] = np.log10(ISOTOPE_FRACTION[(z, a)])
    return out


def air_to_vacuum(wavelength: np.ndarray) -> np.ndarray:
    """Air to vacuum wavelengths (Angstrom), inverting :func:`vacuum_to_air` by iteration."""
    air = np.asarray(wavelength, dtype=float)
    vacuum = air.copy()
    for _ in range(3):  # the index varies slowly: three fixed-point steps reach 1e-9 A
        vacuum = vacuum * air / vacuum_to_air(vacuum)
    return vacuum


def gaia_eso_window(
    source: str | os.PathLike, cache: str | os.PathLike, start: float, stop: float
) -> Path:
    """The Gaia-ESO lines in ``start``-``stop`` A as a SYNSPEC list, converted once and cached.

    Parameters
    ----------
    source
        The Turbospectrum-format Gaia-ESO file.
    cache
        Folder for converted lists (named by window).
    start, stop
        Window in Angstrom; round it outward so that nearby windows share a file.

    Returns
    -------
    pathlib.Path
        The SYNSPEC-format list.
    """
    path = Path(cache) / f"gaia-eso-{start:.0f}-{stop:.0f}.synspec"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        read_gaia_eso(source).window(start, stop).write_synspec(path)
    return path
