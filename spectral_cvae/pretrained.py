"""The pretrained generator shipped in the package: spectra of real accuracy, no training.

``load_pretrained()`` returns a :class:`~spectral_cvae.model.SpectrumGenerator` (the same
``generate()`` API as a model you train) for the physics-aware CVAE trained on the shipped
starter grid and the project's reference grid of more SYNSPEC base models. Its provenance
holds the grids and their sha256, the command, the seed, its split and its test numbers on
stars it never saw; ``scripts/train_pretrained.sh`` reproduces it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ModelFileError

PRETRAINED_FILE = "pretrained.keras"
CHECK = {"draws_per_model": 2, "seed": 1, "max_models": 20}
"""The small check of the recorded test numbers: unseen starter stars, fixed draws."""


def pretrained_path() -> Path:
    """Path of the shipped pretrained model file."""
    return Path(str(resources.files("spectral_cvae.data").joinpath(PRETRAINED_FILE)))


def load_pretrained():
    """The shipped pretrained generator (physics-aware CVAE, the paper's 19,000 pixels).

    Returns
    -------
    SpectrumGenerator
        Six parameters in (teff K, logg dex, vsini km/s, mh dex, vmic km/s, resolution),
        continuum-normalized spectra at 4450-5400 A, 0.05 A, out.

    Raises
    ------
    ModelFileError
        If the package was installed without its model file.
    """
    from .model import SpectrumGenerator

    path = pretrained_path()
    if not path.is_file():
        raise ModelFileError(
            f"{path}: the pretrained model is missing from this installation; reinstall "
            f"spectral-cvae or pass a model of your own"
        )
    return SpectrumGenerator.load(path)


def starter_check(generator, base=None) -> dict:
    """Median and 95th percentile of |Delta F| on a few unseen stars of the starter grid.

    The stars are starter base models the generator never trained on (at most
    ``CHECK["max_models"]``), broadened to ``CHECK["draws_per_model"]`` fixed (v sin i, R)
    draws: a deterministic number that anyone can recompute on a fresh install.

    Parameters
    ----------
    generator
        A generator whose provenance records its training stars.
    base
        The starter base grid, if already loaded (``load_starter_base_grid()``).
    """
    from .evaluation.breakdown import residual_breakdown
    from .grid.augment import unseen_stars
    from .provenance import recorded_training_keys
    from .starter import load_starter_base_grid

    held_out = unseen_stars(
        load_starter_base_grid() if base is None else base,
        recorded_training_keys(generator.provenance),
        wavelength=generator.wavelength,
        **CHECK,
    )
    overall = residual_breakdown(generator, held_out, latents=("mean",))["rows"][0]
    return {
        **CHECK,
        "n_spectra": held_out.n_spectra,
        "median": overall["median"]["mean"],
        "p95": overall["p95"]["mean"],
    }


def record_test_numbers(
    model: str | Path, accuracy: dict, command: str, out: str | Path | None = None
) -> Path:
    """Write a model with its test numbers and the command that made it in its provenance.

    Parameters
    ----------
    model
        The trained model file.
    accuracy
        The result of ``benchmarks/accuracy.py`` on it (stars never trained on).
    command
        The command that trained it.
    out
        Where to write; default the package's :func:`pretrained_path`.
    """
    from .model import SpectrumGenerator

    generator = SpectrumGenerator.load(model)
    provenance = generator.model.metadata.setdefault("provenance", {})
    provenance["command"] = command
    provenance["test_numbers"] = accuracy
    provenance["starter_check"] = starter_check(generator)
    return generator.save(out or pretrained_path(), overwrite=True)


__all__ = [
    "CHECK",
    "PRETRAINED_FILE",
    "load_pretrained",
    "pretrained_path",
    "record_test_numbers",
    "starter_check",
]
