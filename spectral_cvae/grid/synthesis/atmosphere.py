"""Model atmospheres: atmosnet networks, Kurucz (ATLAS9) and MARCS files, SYNSPEC input.

SYNSPEC needs the run of temperature, gas pressure and electron density with column mass
(RHOX, g cm^-2). We get it from the atmosnet networks (Kurucz/C3K ATLAS-type models,
any Teff 2500-50,000 K in one millisecond), or from the user's ATLAS9 or MARCS file, and
write it in Kurucz's format, which SYNSPEC reads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...constants import BOLTZMANN
from ...files import atomic_path
from .errors import SynthesisError

MAX_TAU_ROSS = 30.0
"""Deepest Rosseland optical depth kept from the networks' models."""
MAX_BLEND = 500.0
"""Widest half-band (K) over which the networks may be blended: each is then evaluated at
most this far beyond the Teff it was trained on."""


@dataclass(frozen=True)
class Atmosphere:
    """A plane-parallel LTE model atmosphere, surface first.

    Attributes
    ----------
    teff
        Effective temperature, K.
    logg
        log10 of the surface gravity, cgs.
    mh
        Metallicity [M/H] of the model, dex.
    rhox
        Column mass, g cm^-2, increasing inward.
    temperature
        K.
    pressure
        Gas pressure, dyn cm^-2.
    electron_density
        cm^-3.
    source
        Where the model came from, for messages and provenance.
    tau_ross
        Rosseland optical depth at each depth, where known (the networks' models); not
        written for SYNSPEC, which computes its own optical depths.
    """

    teff: float
    logg: float
    mh: float
    rhox: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    electron_density: np.ndarray
    source: str = "atmosphere"
    tau_ross: np.ndarray | None = None

    @property
    def n_depths(self) -> int:
        return len(self.rhox)

    def temperature_at(self, rhox: np.ndarray) -> np.ndarray:
        """Temperature (K) interpolated linearly in log RHOX."""
        return np.interp(np.log10(rhox), np.log10(self.rhox), self.temperature)

    def write_kurucz(self, path: str | os.PathLike) -> Path:
        """Write the model as a Kurucz deck (RHOX, T, P, XNE), the form SYNSPEC reads.

        Only the columns SYNSPEC uses are written; microturbulence is given to SYNSPEC
        separately, abundances through its own input.
        """
        lines = [f"TEFF {self.teff:7.0f}  GRAVITY {self.logg:7.5f}  LTE"]
        lines += [""] * 21  # SYNSPEC skips Kurucz's header block by counting lines
        lines.append(f"READ DECK6{self.n_depths:3d} RHOX,T,P,XNE")
        lines += [
            f"{m:.8E} {t:8.1f} {p:.4E} {n:.4E}"
            for m, t, p, n in zip(self.rhox, self.temperature, self.pressure, self.electron_density)
        ]
        with atomic_path(path) as temporary:
            temporary.write_text("\n".join(lines) + "\n")
        return Path(path)

    def check(self) -> Atmosphere:
        """Return self after checking the structure is physical, else raise SynthesisError."""
        for name in ("rhox", "temperature", "pressure", "electron_density"):
            values = getattr(self, name)
            if (
                values.shape != self.rhox.shape
                or not np.all(np.isfinite(values))
                or np.any(values <= 0)
            ):
                raise SynthesisError(f"{self.source}: {name} is not finite and positive")
        if np.any(np.diff(self.rhox) <= 0):
            raise SynthesisError(f"{self.source}: RHOX does not increase with depth")
        return self


class AtmosNet:
    """The atmosnet (v1.0.1) networks: (Teff, log g, [Fe/H], [alpha/Fe]) -> a Kurucz model.

    Each of the 8 output columns (RHOX, T, P, XNE, ABROSS, ACCRAD, VTURB, FLXCNV at 80
    depths) has its own two-hidden-layer MLP with leaky-ReLU activations (Ting et al.'s
    Payne form). atmosnet itself exponentiates the outputs with ``exp``, but the networks
    were trained on log10 of the columns: with ``exp`` a solar model has T ~ 50 K. We take
    10**output, which matches the ATLAS9 solar model within ~50 K for RHOX 0.01-3 g cm^-2.

    Both network sets give their models on one depth scale (the same Rosseland optical
    depths at every depth index), so they can be blended depth by depth.

    Parameters
    ----------
    cool, hot
        ``.npz`` files written by :mod:`~spectral_cvae.grid.synthesis.install` from the
        networks for Teff <= 8000 K and Teff >= 8000 K.
    blend
        Half-width (K) of a band around 8000 K where the two are blended: log10 of every
        column is averaged with weights linear in Teff (all cool at 8000 - blend, all hot at
        8000 + blend), each network evaluated up to ``blend`` K beyond its training range.
        0 (default): the cool networks up to 8000 K, the hot ones above, as atmosnet does.
    """

    def __init__(self, cool: str | os.PathLike, hot: str | os.PathLike, blend: float = 0.0) -> None:
        if not 0.0 <= blend <= MAX_BLEND:
            raise ValueError(f"blend must be 0..{MAX_BLEND:g} K, got {blend}")
        self.parts = []
        for path in (cool, hot):
            with np.load(path) as data:
                self.parts.append({key: data[key] for key in data.files})
        self.sources = (str(cool), str(hot))
        self.blend = float(blend)
        self.edge = float(self.parts[0]["ranges"][0, 1])

    def hot_weight(self, teff: float) -> float:
        """Weight of the hot networks at ``teff`` (K): 0 or 1 outside the blending band."""
        if self.blend == 0.0:
            return float(teff > self.edge)
        return float(np.clip((teff - self.edge + self.blend) / (2.0 * self.blend), 0.0, 1.0))

    def domain(self) -> list[np.ndarray]:
        """Label ranges of each part: arrays ``(4, 2)`` over Teff, log g, [Fe/H], [alpha/Fe]."""
        return [part["ranges"] for part in self.parts]

    def __call__(self, teff: float, logg: float, mh: float, alpha: float = 0.0) -> Atmosphere:
        """The model atmosphere at the given labels.

        Parameters
        ----------
        teff
            Effective temperature, K.
        logg
            log10 surface gravity, cgs.
        mh
            [Fe/H] (all metals scaled alike), dex.
        alpha
            [alpha/Fe], dex.

        Raises
        ------
        SynthesisError
            If the labels lie outside every network's training range.
        """
        labels = np.array([teff, logg, mh, alpha], dtype=float)
        inside = [_inside(part["ranges"], labels) for part in self.parts]
        if not any(inside):
            domains = "; ".join(_describe_ranges(p["ranges"]) for p in self.parts)
            raise SynthesisError(
                f"Teff = {teff} K, log g = {logg}, [M/H] = {mh}, [alpha/Fe] = {alpha} lies "
                f"outside the atmosphere networks' domain ({domains})"
            )
        log_columns = _evaluate(self.parts[inside.index(True)], labels)
        weight = self.hot_weight(teff)
        source = f"atmosnet(teff={teff}, logg={logg}, mh={mh})"
        if 0.0 < weight < 1.0 and all(
            _inside(part["ranges"], labels, self.blend) for part in self.parts
        ):
            cool, hot = (_evaluate(part, labels) for part in self.parts)
            log_columns = (1.0 - weight) * cool + weight * hot
            source = f"atmosnet(teff={teff}, logg={logg}, mh={mh}, {weight:.3f} of the hot part)"
        columns = 10.0**log_columns
        # Below tau_Ross ~ 30 no optical photon escapes; dropping those depths saves SYNSPEC
        # about a sixth of its time and changes no flux.
        rhox, kappa = columns[0], columns[4]
        tau = kappa[0] * rhox[0] + np.concatenate(
            [[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * np.diff(rhox))]
        )
        keep = slice(0, max(int(np.searchsorted(tau, MAX_TAU_ROSS)) + 1, 2))
        columns = columns[:, keep]
        return Atmosphere(
            teff=float(teff),
            logg=float(logg),
            mh=float(mh),
            rhox=columns[0],
            temperature=columns[1],
            pressure=columns[2],
            electron_density=columns[3],
            source=source,
            tau_ross=tau[keep],
        ).check()


def _evaluate(part: dict, labels: np.ndarray) -> np.ndarray:
    """All output columns of one network set, shape ``(n_columns, n_depths)``."""
    scaled = (labels - part["x_min"]) / (part["x_max"] - part["x_min"]) - 0.5
    hidden = _leaky_relu(np.einsum("cij,cj->ci", part["w_array_0"], scaled) + part["b_array_0"])
    hidden = _leaky_relu(np.einsum("cij,cj->ci", part["w_array_1"], hidden) + part["b_array_1"])
    return np.einsum("cij,cj->ci", part["w_array_2"], hidden) + part["b_array_2"]


def _inside(ranges: np.ndarray, labels: np.ndarray, teff_margin: float = 0.0) -> bool:
    """Whether labels lie in a network's training ranges, Teff widened by teff_margin (K)."""
    low, high = ranges[:, 0].copy(), ranges[:, 1].copy()
    low[0] -= teff_margin
    high[0] += teff_margin
    return bool(np.all((labels >= low) & (labels <= high)))


def _leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.01 * x)


def _describe_ranges(ranges: np.ndarray) -> str:
    names = ("Teff", "log g", "[Fe/H]", "[alpha/Fe]")
    return ", ".join(f"{n} {lo:g}..{hi:g}" for n, (lo, hi) in zip(names, ranges))


def read_atlas9(path: str | os.PathLike) -> Atmosphere:
    """Read a Kurucz ATLAS9/ATLAS12 model (``TEFF ... GRAVITY ...`` header, ``READ DECK6``).

    [M/H] is taken from the ``ABUNDANCE SCALE`` (log10 of it).

    Raises
    ------
    SynthesisError
        Naming the file, if it is not in that format.
    """
    text = _read(path)
    header = re.search(r"TEFF\s+([\d.]+)\s+GRAVITY\s+([-\d.]+)", text)
    deck = re.search(r"READ DECK6\s*(\d+)", text)
    if not header or not deck:
        raise SynthesisError(f"{path}: not a Kurucz model (no TEFF/GRAVITY or READ DECK6 line)")
    scale = re.search(r"ABUNDANCE SCALE\s+([\d.]+)", text)
    n = int(deck.group(1))
    rows = text[deck.end() :].splitlines()[1 : n + 1]
    try:
        table = np.array([[float(v) for v in row.split()[:4]] for row in rows])
    except ValueError as exc:
        raise SynthesisError(f"{path}: unreadable depth point in the DECK6 block ({exc})") from None
    if table.shape != (n, 4):
        raise SynthesisError(f"{path}: READ DECK6 announces {n} depths, found {len(table)}")
    return Atmosphere(
        teff=float(header.group(1)),
        logg=float(header.group(2)),
        mh=float(np.log10(float(scale.group(1)))) if scale else 0.0,
        rhox=table[:, 0],
        temperature=table[:, 1],
        pressure=table[:, 2],
        electron_density=table[:, 3],
        source=str(path),
    ).check()


def read_marcs(path: str | os.PathLike) -> Atmosphere:
    """Read a MARCS ``.mod`` model (Gustafsson et al. 2008).

    Column mass (RHOX), T, Pg and Pe are taken at each depth; XNE = Pe / kT. A spherical
    MARCS model is used as if plane-parallel, which SYNSPEC assumes.

    Raises
    ------
    SynthesisError
        Naming the file, if it is not in that format.
    """
    text = _read(path)
    lines = text.splitlines()
    try:
        teff = float(re.search(r"^\s*([\d.]+)\s+Teff", text, re.M).group(1))
        gravity = float(re.search(r"^\s*([\d.Ee+-]+)\s+Surface gravity", text, re.M).group(1))
        mh = float(re.search(r"^\s*([-+\d.]+)\s+[-+\d.]+\s+Metallicity", text, re.M).group(1))
        n = int(re.search(r"^\s*(\d+)\s+Number of depth points", text, re.M).group(1))
        first = next(i for i, line in enumerate(lines) if line.split()[:2] == ["k", "lgTauR"])
        second = next(
            i for i, line in enumerate(lines) if i > first and line.split()[:2] == ["k", "lgTauR"]
        )
        thermo = _table(lines[first + 1 : first + 1 + n])
        mass = _table(lines[second + 1 : second + 1 + n])
    except (AttributeError, StopIteration, ValueError) as exc:
        raise SynthesisError(f"{path}: not a MARCS .mod model ({exc})") from None
    temperature = thermo[:, 4]
    return Atmosphere(
        teff=teff,
        logg=float(np.log10(gravity)),
        mh=mh,
        rhox=mass[:, 7],
        temperature=temperature,
        pressure=thermo[:, 6],
        electron_density=thermo[:, 5] / (BOLTZMANN * temperature),
        source=str(path),
    ).check()


def _table(rows: list[str]) -> np.ndarray:
    return np.array([[float(v) for v in row.split()] for row in rows])


def read_atmosphere(path: str | os.PathLike) -> Atmosphere:
    """Read an ATLAS9 or MARCS model, recognized by its content."""
    text = _read(path)
    if "READ DECK6" in text:
        return read_atlas9(path)
    if "Number of depth points" in text:
        return read_marcs(path)
    raise SynthesisError(f"{path}: neither a Kurucz (ATLAS9) nor a MARCS model atmosphere")


def _read(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SynthesisError(f"{path}: no such model atmosphere file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SynthesisError(f"{path}: cannot be read as text ({exc})") from exc
