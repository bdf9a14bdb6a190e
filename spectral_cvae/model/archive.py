"""The ``.keras`` archive of a trained model: written atomically, checked, read in safe mode.

A model is saved as a Keras ``.keras`` archive whose model config carries everything
generation needs (wavelength grid, parameter space with its min-max ranges, the flux scale
inside the decoder, the :class:`CVAEConfig`) and where it came from
(:mod:`spectral_cvae.provenance`). Files are written atomically and read with Keras safe
mode, so loading a model never runs code stored in it. The archive also holds the sha256 of
each of its members (:data:`CHECKSUM_MEMBER`), checked on reading, so that a file edited
after saving (weights, flux scale, ranges) is refused instead of generating wrong spectra.

:meth:`SpectrumGenerator.save <spectral_cvae.model.SpectrumGenerator.save>` and
:meth:`SpectrumGenerator.load <spectral_cvae.model.SpectrumGenerator.load>` are the public
way in; this module knows nothing of generators.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

from ..errors import ModelFileError
from ..files import atomic_path
from .cvae import CVAE, PACKAGE
from .physics import PhysicsCVAE

MODEL_CLASSES = (f"{PACKAGE}>CVAE", f"{PACKAGE}>PhysicsCVAE")
"""Registered names of the Keras models a spectral-cvae model file may hold."""


CHECKSUM_MEMBER = "spectral_cvae.sha256.json"
"""Archive member holding ``{member name: sha256}`` of every other member."""


def write_archive(model: CVAE | PhysicsCVAE, path: str | os.PathLike, overwrite: bool) -> Path:
    """Write ``model`` (its metadata included) to ``path``, atomically, without optimizer
    state; see :meth:`SpectrumGenerator.save <spectral_cvae.model.SpectrumGenerator.save>`.
    """
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: a model file name must end in .keras")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it")
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
        _add_checksums(temporary)
    return path


def read_archive(path: str | os.PathLike) -> CVAE | PhysicsCVAE:
    """The Keras model of a file written by :func:`write_archive`, uncompiled, read in Keras
    safe mode; see :meth:`SpectrumGenerator.load <spectral_cvae.model.SpectrumGenerator.load>`.
    """
    import keras

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    _check_archive(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for damaged archives; name the file.
        raise ModelFileError(
            f"{path}: cannot be loaded as a spectral-cvae model, the file is damaged or was "
            f"written by an incompatible version ({type(exc).__name__}: {exc})"
        ) from exc


def _digests(archive: zipfile.ZipFile) -> dict[str, str]:
    """sha256 of every member but the checksum member itself."""
    digests = {}
    for name in sorted(archive.namelist()):
        if name != CHECKSUM_MEMBER:
            digest = hashlib.sha256()
            with archive.open(name) as member:
                for block in iter(lambda: member.read(2**20), b""):
                    digest.update(block)
            digests[name] = digest.hexdigest()
    return digests


def _add_checksums(path: Path) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(CHECKSUM_MEMBER, json.dumps(_digests(archive), indent=1))


def _check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            config = json.loads(archive.read("config.json"))
            stored = (
                json.loads(archive.read(CHECKSUM_MEMBER))
                if CHECKSUM_MEMBER in archive.namelist()
                else None  # written before checksums were stored
            )
            found = _digests(archive) if stored is not None else None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFileError(
            f"{path}: not a readable .keras model archive, the file is truncated or corrupt ({exc})"
        ) from exc
    if damaged is not None:
        raise ModelFileError(f"{path}: member {damaged} of the archive is corrupt")
    if stored is not None and stored != found:
        changed = sorted(k for k in set(stored) | set(found) if stored.get(k) != found.get(k))
        raise ModelFileError(
            f"{path}: the file was changed after it was saved ({', '.join(changed)} do not "
            f"match the checksums stored in it); retrain or restore the model"
        )
    if config.get("registered_name") not in MODEL_CLASSES:
        raise ModelFileError(
            f"{path}: a Keras model of class {config.get('class_name')!r}, not a spectral-cvae CVAE"
        )
