"""One file per trained model: weights, normalization, wavelengths, space, config, provenance.

A model is saved as a Keras ``.keras`` archive whose model config carries everything
generation needs (wavelength grid, parameter space with its min-max ranges, the flux scale
inside the decoder, the :class:`CVAEConfig`) and where it came from (grid fingerprint,
split, package versions, training history). Files are written atomically and read with
Keras safe mode, so loading a model never runs code stored in it.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from ..errors import GridFileError
from ..files import atomic_path
from .cvae import CVAE, PACKAGE
from .generator import SpectrumGenerator
from .physics import PhysicsCVAE

MODEL_CLASSES = (f"{PACKAGE}>CVAE", f"{PACKAGE}>PhysicsCVAE")
"""Registered names of the Keras models a spectral-cvae model file may hold."""


class ModelFileError(GridFileError):
    """A model file that is missing, truncated, corrupt or not a spectral-cvae model."""


def save_model(
    generator: SpectrumGenerator | CVAE | PhysicsCVAE,
    path: str | os.PathLike,
    overwrite: bool = True,
) -> Path:
    """Write a model to one ``.keras`` file, atomically (without optimizer state).

    Parameters
    ----------
    generator
        A :class:`SpectrumGenerator` or its :class:`CVAE`.
    path
        Destination; must end in ``.keras``. It appears only once complete.
    overwrite
        Replace an existing file.
    """
    import keras

    model = generator.model if isinstance(generator, SpectrumGenerator) else generator
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: a model file name must end in .keras")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if getattr(model, "optimizer", None) is not None:
        # A fitted model would carry Adam's two moments: three times the weights' size.
        bare = type(model)(
            model.config, model.n_pixels, model.n_conditions, model.seed, model.metadata
        )
        bare.build_all()
        bare.set_weights(model.get_weights())
        model = bare
    with atomic_path(path, suffix=".tmp.keras") as temporary:
        keras.saving.save_model(model, temporary)
    return path


def load_model(path: str | os.PathLike) -> SpectrumGenerator:
    """Read a model written by :func:`save_model` (Keras safe mode: no stored code runs).

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, corrupt, or not a spectral-cvae model.
    """
    import keras

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    _check_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for damaged archives; name the file.
        raise ModelFileError(
            f"{path}: cannot be loaded as a spectral-cvae model, the file is damaged or was "
            f"written by an incompatible version ({type(exc).__name__}: {exc})"
        ) from exc
    return SpectrumGenerator(model)


def _check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFileError(
            f"{path}: not a readable .keras model archive, the file is truncated or corrupt ({exc})"
        ) from exc
    if damaged is not None:
        raise ModelFileError(f"{path}: member {damaged} of the archive is corrupt")
    if config.get("registered_name") not in MODEL_CLASSES:
        raise ModelFileError(
            f"{path}: a Keras model of class {config.get('class_name')!r}, not a spectral-cvae CVAE"
        )
