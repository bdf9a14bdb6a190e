"""The six stellar parameters that condition the generator, their units and ranges.

The order is the paper's (Gebran & Bentley 2025, section 2): effective temperature, surface
gravity, projected rotational velocity, metallicity, microturbulence and resolving power.
A :class:`ParameterSpace` normalizes them to [0, 1] (min-max, as the paper does) and tells
whether a point lies inside the training domain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import OutOfDomainError, ParameterError, where


@dataclass(frozen=True)
class Parameter:
    """One stellar parameter with its unit and the range of the training domain.

    Attributes
    ----------
    name
        Short name used in code and files (``"teff"``, ``"logg"``, ...).
    unit
        Unit as an astropy-readable string (``"K"``, ``"dex"``, ``"km / s"``, ``""``).
    minimum, maximum
        Inclusive range of the domain, in ``unit``.
    label
        Name a spectroscopist reads on a plot axis.
    scale
        How the parameter is normalized for a network: ``"linear"`` (min-max, the paper's)
        or ``"log"`` (min-max of its logarithm, for a positive quantity spanning decades,
        such as the resolving power).
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    label: str
    scale: str = "linear"

    def __post_init__(self) -> None:
        if self.scale not in ("linear", "log"):
            raise ParameterError(
                f"parameter {self.name!r}: scale must be 'linear' or 'log', not {self.scale!r}"
            )
        if self.scale == "log" and not self.minimum > 0:
            raise ParameterError(f"parameter {self.name!r}: a log scale needs a range above 0")
        if not (np.isfinite(self.minimum) and np.isfinite(self.maximum)):
            raise ParameterError(f"parameter {self.name!r}: range must be finite")
        if not self.maximum > self.minimum:
            raise ParameterError(
                f"parameter {self.name!r}: maximum {self.maximum} must exceed "
                f"minimum {self.minimum}"
            )

    @property
    def span(self) -> float:
        """Width of the range, in ``unit``."""
        return self.maximum - self.minimum

    @property
    def axis_label(self) -> str:
        """The label with its unit, as on a plot axis or a slider: ``"v sin i (km/s)"``."""
        return with_unit(self.label, self.unit)


def compact_unit(unit: str) -> str:
    """A unit as a label shows it: ``"km/s"`` for astropy's ``"km / s"``."""
    return unit.replace(" ", "")


def with_unit(text: str, unit: str) -> str:
    """``"text (unit)"`` with the unit compact (:func:`compact_unit`), or ``text`` alone
    when there is no unit."""
    return f"{text} ({compact_unit(unit)})" if unit else text


PAPER_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("teff", "K", 4000.0, 11000.0, "Teff"),
    Parameter("logg", "dex", 2.0, 5.0, "log g"),
    Parameter("vsini", "km / s", 0.0, 300.0, "v sin i"),
    Parameter("mh", "dex", -1.5, 1.5, "[M/H]"),
    Parameter("vmic", "km / s", 0.0, 4.0, "microturbulence"),
    Parameter("resolution", "", 1000.0, 115000.0, "R"),
)
"""The paper's parameters and ranges (Gebran & Bentley 2025, section 2)."""


class ParameterSpace:
    """An ordered set of stellar parameters: the conditioning space of a grid or model.

    Parameters
    ----------
    parameters
        The parameters in the order used by every array of shape ``(n, n_parameters)``.
        Defaults to the paper's six.

    Examples
    --------
    >>> space = ParameterSpace()
    >>> space.normalize([[7500.0, 3.5, 150.0, 0.0, 2.0, 58000.0]]).round(2)
    array([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    """

    def __init__(self, parameters: Sequence[Parameter] = PAPER_PARAMETERS) -> None:
        self.parameters: tuple[Parameter, ...] = tuple(parameters)
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ParameterError(f"parameter names must be unique, got {names}")
        if not names:
            raise ParameterError("a parameter space needs at least one parameter")

    # -- description ---------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(p.name for p in self.parameters)

    @property
    def units(self) -> tuple[str, ...]:
        """Parameter units, in order."""
        return tuple(p.unit for p in self.parameters)

    @property
    def minimum(self) -> np.ndarray:
        """Lower bounds, shape ``(n_parameters,)``."""
        return np.array([p.minimum for p in self.parameters])

    @property
    def maximum(self) -> np.ndarray:
        """Upper bounds, shape ``(n_parameters,)``."""
        return np.array([p.maximum for p in self.parameters])

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r}; this space has {', '.join(self.names)}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterSpace) and self.parameters == other.parameters

    def __hash__(self) -> int:
        return hash(self.parameters)

    def __repr__(self) -> str:
        body = ", ".join(
            f"{p.name} [{p.minimum:g}, {p.maximum:g}] {p.unit}".rstrip() for p in self.parameters
        )
        return f"ParameterSpace({body})"

    def with_ranges(self, **ranges: tuple[float, float]) -> ParameterSpace:
        """Return a copy with some ranges replaced, e.g. ``with_ranges(teff=(3500, 7000))``."""
        unknown = set(ranges) - set(self.names)
        if unknown:
            raise KeyError(f"no parameter(s) {sorted(unknown)}; this space has {self.names}")
        return ParameterSpace(
            [
                replace(p, minimum=float(ranges[p.name][0]), maximum=float(ranges[p.name][1]))
                if p.name in ranges
                else p
                for p in self.parameters
            ]
        )

    # -- arrays --------------------------------------------------------------------------
    def as_array(self, values: object, source: str | None = None) -> np.ndarray:
        """Arrange parameter values as a float64 array of shape ``(n, n_parameters)``.

        Parameters
        ----------
        values
            An array-like of shape ``(n_parameters,)`` or ``(n, n_parameters)`` in this
            space's order, or a mapping / structured array / astropy Table with one entry
            per parameter name (arrays of one length n, or scalars shared by all n points).
            Extra names are ignored. Columns with units (astropy ``Quantity``, a ``QTable``
            or a table column with ``unit``, e.g. from ECSV or FITS) are converted to this
            space's units; columns without units are taken to be in them.
        source
            Where the values came from, for error messages.

        Raises
        ------
        ParameterError
            If a parameter is missing, a value is empty (a masked table cell) or not a
            number, a unit cannot be converted to the parameter's, the shape is wrong or a
            value is not finite.
        """
        if isinstance(values, Mapping) or _has_names(values):
            keys = _keys(values)
            missing = [n for n in self.names if n not in keys]
            if missing:
                raise ParameterError(
                    f"{where(source)}missing parameter(s) {', '.join(missing)} "
                    f"(found: {', '.join(map(str, keys)) or 'none'})"
                )
            columns = [_column(values[p.name], p, source) for p in self.parameters]
            lengths = {n: c.size for n, c in zip(self.names, columns) if c.ndim > 0}
            if len(set(lengths.values())) > 1 or any(c.ndim > 1 for c in columns):
                raise ParameterError(
                    f"{where(source)}parameter columns differ in length: "
                    + ", ".join(f"{n} {k}" for n, k in lengths.items())
                )
            n = next(iter(lengths.values()), 1)
            array = np.stack([np.broadcast_to(c, (n,)) for c in columns], axis=-1)
        else:
            if getattr(values, "unit", None) is not None:
                raise ParameterError(
                    f"{where(source)}a Quantity array mixes the units of the parameters: give "
                    f"a mapping or table with one column per parameter name instead"
                )
            try:
                array = np.asarray(values, dtype=float)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"{where(source)}parameters are not numbers ({exc})") from exc
            if array.ndim == 1:
                array = array[np.newaxis, :]
            if array.ndim != 2 or array.shape[1] != len(self):
                raise ParameterError(
                    f"{where(source)}expected parameters of shape (n, {len(self)}) in the order "
                    f"{', '.join(self.names)}; got shape {np.shape(values)}"
                )
        bad = ~np.isfinite(array)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ParameterError(
                f"{where(source, int(row))}parameter {self.names[col]!r} is {array[row, col]}"
            )
        return array

    def _scaled(self, array: np.ndarray) -> np.ndarray:
        """Values, or their logarithm where a parameter's scale is ``"log"``."""
        logs = self._log_columns
        if not logs.any():
            return array
        out = np.array(array, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., logs] = np.log(out[..., logs])
        return out

    @property
    def _log_columns(self) -> np.ndarray:
        return np.array([p.scale == "log" for p in self.parameters])

    def normalize(self, values: object) -> np.ndarray:
        """Map physical values to [0, 1] over each parameter's range (min-max scaling, of the
        logarithm for parameters on a log scale)."""
        low, high = self._scaled(self.minimum), self._scaled(self.maximum)
        return (self._scaled(self.as_array(values)) - low) / (high - low)

    def denormalize(self, normalized: object) -> np.ndarray:
        """Inverse of :meth:`normalize`: values in [0, 1] back to physical units."""
        array = np.asarray(normalized, dtype=float)
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if array.shape[-1] != len(self):
            raise ParameterError(
                f"expected normalized parameters with {len(self)} columns, got shape {array.shape}"
            )
        low, high = self._scaled(self.minimum), self._scaled(self.maximum)
        scaled = array * (high - low) + low
        logs = self._log_columns
        if logs.any():
            scaled[..., logs] = np.exp(scaled[..., logs])
        return scaled

    def derivative(self, normalized: object) -> np.ndarray:
        """d(physical value) / d(normalized value) at normalized points.

        The range for a linear scale; the value times the range of its logarithm for a log
        scale. Turns derivatives and covariances in normalized units into physical ones.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_parameters)``, in each parameter's unit.
        """
        physical = self.denormalize(normalized)
        low, high = self._scaled(self.minimum), self._scaled(self.maximum)
        return np.where(self._log_columns, physical * (high - low), high - low)

    def with_scales(self, **scales: str) -> ParameterSpace:
        """A copy with some parameters normalized on another scale, e.g. ``resolution="log"``."""
        unknown = sorted(set(scales) - set(self.names))
        if unknown:
            raise ParameterError(f"no parameter(s) {unknown}; this space has {self.names}")
        return ParameterSpace(
            [replace(p, scale=scales[p.name]) if p.name in scales else p for p in self.parameters]
        )

    def contains(self, values: object) -> np.ndarray:
        """Tell which points lie inside the domain (bounds inclusive).

        Returns
        -------
        numpy.ndarray of bool, shape ``(n,)``
        """
        array = self.as_array(values)
        return np.all((array >= self.minimum) & (array <= self.maximum), axis=1)

    def check(self, values: object, source: str | None = None, first_row: int = 0) -> np.ndarray:
        """Return the values as an array, raising if any point lies outside the domain.

        Parameters
        ----------
        values
            As for :meth:`as_array`.
        source
            Where the values came from, for the error message.
        first_row
            Index of the first point within ``source``, so messages give true row numbers.

        Raises
        ------
        OutOfDomainError
            Naming the first offending row, parameter, value and allowed range.
        """
        array = self.as_array(values, source=source)
        low, high = array < self.minimum, array > self.maximum
        outside = low | high
        if outside.any():
            row, col = np.argwhere(outside)[0]
            p = self.parameters[col]
            n_bad = int(outside.any(axis=1).sum())
            raise OutOfDomainError(
                f"{where(source, first_row + int(row))}{p.name} = {array[row, col]:g} {p.unit} "
                f"is outside [{p.minimum:g}, {p.maximum:g}]".rstrip()
                + f" ({n_bad} of {len(array)} spectra are outside the domain)"
            )
        return array

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready description: ``{"parameters": [{name, unit, minimum, ...}, ...]}``."""
        return {
            "parameters": [
                {
                    "name": p.name,
                    "unit": p.unit,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                    "label": p.label,
                    **({"scale": p.scale} if p.scale != "linear" else {}),
                }
                for p in self.parameters
            ]
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ParameterSpace:
        """Rebuild a space from :meth:`to_dict` output."""
        try:
            return cls([Parameter(**entry) for entry in data["parameters"]])
        except (KeyError, TypeError) as exc:
            raise ParameterError(f"not a parameter-space description: {exc}") from exc

    def to_json(self) -> str:
        """Serialize to a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParameterSpace:
        """Rebuild a space from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def _column(values: object, parameter: Parameter, source: str | None) -> np.ndarray:
    """One parameter's values as float64 in the parameter's unit, refusing empty cells."""
    name = parameter.name
    mask = getattr(values, "mask", None)
    if mask is not None and np.any(mask):
        rows = np.flatnonzero(np.atleast_1d(mask))
        first = int(rows[0]) if rows.size else None
        raise ParameterError(
            f"{where(source, first)}parameter {name!r} has no value"
            + (f" ({rows.size} empty cells in column {name!r})" if rows.size > 1 else "")
        )
    unit = getattr(values, "unit", None)
    if unit is not None:
        values = _convert(values, unit, parameter, source)
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        text = np.atleast_1d(np.asarray(values, dtype=object))
        for row, value in enumerate(text):
            try:
                float(value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"{where(source, row if text.size > 1 else None)}parameter {name!r} is "
                    f"not a number: {str(value)[:40]!r}"
                ) from None
        raise


def _convert(values: object, unit: object, parameter: Parameter, source: str | None) -> object:
    """Values with a unit converted to the parameter's unit (temperature scales included)."""
    from astropy import units as u

    try:
        quantity = u.Quantity(np.asarray(values, dtype=float), unit)
        return quantity.to_value(u.Unit(parameter.unit), equivalencies=u.temperature())
    except (u.UnitsError, ValueError, TypeError) as exc:
        wanted = parameter.unit or "dimensionless"
        raise ParameterError(
            f"{where(source)}parameter {parameter.name!r} is given in {unit}, which cannot be "
            f"converted to {wanted} ({type(exc).__name__})"
        ) from exc


def _has_names(values: object) -> bool:
    dtype = getattr(values, "dtype", None)
    return bool(getattr(values, "colnames", None)) or bool(dtype is not None and dtype.names)


def _keys(values: object) -> list[str]:
    if isinstance(values, Mapping):
        return list(values.keys())
    if getattr(values, "colnames", None):
        return list(values.colnames)
    return list(values.dtype.names)


PAPER_SPACE = ParameterSpace()
"""The paper's six-parameter space: the default everywhere."""

BASE_NAMES = ("teff", "logg", "mh", "vmic")
"""The parameters a radiative-transfer run depends on: together they name a *base model*."""
BROADENING_NAMES = ("vsini", "resolution")
"""The parameters applied afterwards by convolution."""


def base_space(space: ParameterSpace = PAPER_SPACE) -> ParameterSpace:
    """The part of ``space`` that a synthesis depends on (Teff, log g, [M/H], xi_t)."""
    return ParameterSpace([space[name] for name in BASE_NAMES])


BASE_SPACE = base_space()
"""The paper's ranges of Teff, log g, [M/H] and microturbulence."""
