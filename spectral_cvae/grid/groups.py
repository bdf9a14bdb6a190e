"""Base models: which rows of a grid are one star broadened differently.

Every row of a six-parameter grid is one SYNSPEC *base model* (Teff, log g, [M/H], xi_t)
broadened to one (v sin i, R) pair. Rows of one base model are the same star seen through
exact convolutions, so a test set holding one of them while training holds another measures
interpolation in v sin i and R, not the generation of a star never seen. Grids therefore
carry a ``base_model`` index per row (written by :func:`~spectral_cvae.grid.augment.augment`,
the builder and the starter loader, or inferred here from identical base parameters), splits
never put one base model in two subsets, and a trained model remembers its training base
models as :func:`base_model_keys` so that any later test set can be checked against them,
on the same grid or on another one.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

import numpy as np

from ..errors import GridInputError
from ..parameters import BASE_NAMES, BROADENING_NAMES, ParameterSpace

UNKNOWN = -1
"""Stored ``base_model`` value of a row whose base model was not recorded."""


def base_columns(space: ParameterSpace) -> list[int]:
    """Column indices of the base-model parameters (Teff, log g, [M/H], xi_t) in ``space``.

    A space without them (a grid of the user's own parameters) uses every parameter that is
    not a broadening one, so rows differing only in v sin i and R still share a base model.
    """
    present = [space.names.index(name) for name in BASE_NAMES if name in space.names]
    if present:
        return present
    return [k for k, name in enumerate(space.names) if name not in BROADENING_NAMES]


def is_base_space(space: ParameterSpace) -> bool:
    """Whether rows of ``space`` are unbroadened base models (no v sin i, no R)."""
    return not any(name in space.names for name in BROADENING_NAMES)


def infer_base_models(parameters: np.ndarray, space: ParameterSpace) -> np.ndarray:
    """Base-model index of each row from identical base parameters.

    Parameters
    ----------
    parameters
        Shape ``(n_spectra, len(space))``, in the order of ``space.names``.
    space
        The grid's parameter space.

    Returns
    -------
    numpy.ndarray of int64
        Shape ``(n_spectra,)``; base models are numbered in order of first appearance. In a
        base grid (no broadening parameters) every row is its own base model.
    """
    parameters = np.asarray(parameters, dtype=np.float64)
    n = len(parameters)
    columns = base_columns(space)
    if is_base_space(space) or not columns or n == 0:
        return np.arange(n, dtype=np.int64)
    # float32 so that the same star read from float32 and float64 sources is one model.
    values = np.ascontiguousarray(parameters[:, columns], dtype=np.float32)
    _, first, inverse = np.unique(values, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    # Renumber by first appearance, so the numbering follows the grid's order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse].astype(np.int64)


def check_base_models(base_model: object, n_spectra: int, source: str | None = None) -> np.ndarray:
    """Check a ``base_model`` column: integers >= 0, one per spectrum.

    Raises
    ------
    GridInputError
        Naming the source and the first bad row.
    """
    where_ = f"{source}: " if source else ""
    values = np.asarray(base_model)
    if values.shape != (n_spectra,):
        raise GridInputError(
            f"{where_}base_model has shape {values.shape}; expected ({n_spectra},), one "
            f"index per spectrum"
        )
    if values.size and not np.issubdtype(values.dtype, np.integer):
        as_float = values.astype(np.float64)
        bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
        if bad.any():
            row = int(np.argmax(bad))
            raise GridInputError(
                f"{where_}spectrum {row}: base_model {values[row]!r} is not an integer index"
            )
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        row = int(np.argmax(values < 0))
        raise GridInputError(f"{where_}spectrum {row}: base_model {values[row]} is negative")
    return values


def base_model_keys(parameters: np.ndarray, space: ParameterSpace) -> np.ndarray:
    """An 8-byte identity of each row's base model, the same on any grid of the same stars.

    Parameters
    ----------
    parameters
        Shape ``(n, len(space))``.
    space
        Their parameter space.

    Returns
    -------
    numpy.ndarray of uint64
        Shape ``(n,)``: a BLAKE2b digest of the float32 base parameters (Teff, log g, [M/H],
        xi_t, in that order), so rows of one star share a key across grids and files.
    """
    parameters = np.asarray(parameters, dtype=np.float64)
    if parameters.ndim != 2 or parameters.shape[1] != len(space):
        raise GridInputError(
            f"parameters of shape {parameters.shape} do not match the {len(space)} parameters "
            f"({', '.join(space.names)}) of their space"
        )
    values = np.ascontiguousarray(parameters[:, base_columns(space)]).astype("<f4")
    keys = np.empty(len(values), dtype=np.uint64)
    for k, row in enumerate(values):
        keys[k] = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
    return keys


def encode_keys(keys: np.ndarray) -> str:
    """Pack a set of base-model keys as compressed base64 text (sorted, unique)."""
    unique = np.unique(np.asarray(keys, dtype="<u8"))
    return base64.b64encode(zlib.compress(unique.tobytes(), 9)).decode("ascii")


def decode_keys(text: str) -> np.ndarray:
    """Inverse of :func:`encode_keys`."""
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii")))
    except (ValueError, zlib.error) as exc:
        raise GridInputError(f"not an encoded set of base-model keys ({exc})") from exc
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


__all__ = [
    "UNKNOWN",
    "base_columns",
    "base_model_keys",
    "check_base_models",
    "decode_keys",
    "encode_keys",
    "infer_base_models",
    "is_base_space",
]
