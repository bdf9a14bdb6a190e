"""Where a trained model came from: its grid, its split, its training stars, its software.

Stored in the model file beside the weights, so a model can always say what it was trained
on. Two records matter for honest numbers: the split (every row's subset, compactly) and the
keys of the base models it saw in training and validation
(:func:`~spectral_cvae.grid.groups.base_model_keys`), against which any later test set, on
the same grid or another, is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .grid.groups import base_model_keys, decode_keys, encode_keys
from .grid.splits import GridSplit
from .grid.store import SpectralGrid

FULL_HASH_BYTES = 1 << 30
"""Grid files up to this size are hashed whole (sha256); larger ones are fingerprinted."""


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages a trained model depends on."""
    versions = {"python": platform.python_version()}
    for name in ("spectral-cvae", "tensorflow", "keras", "numpy", "h5py"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def grid_fingerprint(grid: SpectralGrid, whole_file: bool = True) -> dict:
    """Identify the grid a model was trained on.

    Returns
    -------
    dict
        ``sha256`` of the whole file for files up to 1 GiB; for larger files and in-memory
        grids, ``fingerprint``: a sha256 of the wavelengths, parameters, flux shape and the
        grid's provenance (cheap, and changes whenever the grid's content description does).
        ``whole_file=False`` skips the file's sha256.
    """
    digest = hashlib.sha256()
    for array in (grid.wavelength, grid.parameters):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    digest.update(
        json.dumps([grid.n_spectra, grid.n_pixels, grid.provenance], default=str).encode()
    )
    info = {
        "n_spectra": grid.n_spectra,
        "n_pixels": grid.n_pixels,
        "fingerprint": digest.hexdigest(),
    }
    if grid.path is not None:
        info["file"] = Path(grid.path).name
        size = os.path.getsize(grid.path)
        info["bytes"] = size
        if whole_file and size <= FULL_HASH_BYTES:
            info["sha256"] = file_sha256(grid.path)
    return info


def describe_training(grid: SpectralGrid, split, seed: int) -> dict:
    """Provenance of a training run: grid, split sizes, seed, versions, time."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "grid": grid_fingerprint(grid),
        "grid_provenance": grid.provenance,
        "split": split.to_dict(),
        "training_base_models": training_base_models(grid, split),
        "seed": int(seed),
        "versions": package_versions(),
    }


def training_base_models(grid: SpectralGrid, split: GridSplit) -> dict:
    """The base models a model sees in training and validation, as compact keys.

    Returns
    -------
    dict
        ``n``: how many base models; ``keys``: their encoded keys (8 bytes each before
        compression).
    """
    rows = np.concatenate([split.train, split.validation])
    keys = base_model_keys(grid.parameters[rows], grid.space)
    return {"n": int(np.unique(keys).size), "keys": encode_keys(keys)}


def recorded_split(provenance: dict) -> GridSplit | None:
    """The split a model was trained on, or None for models that did not record it."""
    record = provenance.get("split", {})
    return GridSplit.from_dict(record) if "assignment" in record else None


def recorded_training_keys(provenance: dict) -> np.ndarray | None:
    """Keys of the base models a model was trained (and validated) on, if recorded."""
    record = provenance.get("training_base_models")
    return decode_keys(record["keys"]) if record else None


def same_grid(provenance: dict, grid: SpectralGrid) -> bool:
    """Whether ``grid`` is the grid a model's provenance describes (same fingerprint)."""
    recorded = provenance.get("grid", {})
    if not recorded or recorded.get("n_spectra") != grid.n_spectra:
        return False
    return recorded.get("fingerprint") == grid_fingerprint(grid, whole_file=False)["fingerprint"]
