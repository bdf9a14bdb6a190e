"""Radiative transfer: SYNSPEC spectra on model atmospheres, one at a time or as a grid.

* :mod:`.install`: download (pinned, sha256-checked), compile and cache SYNSPEC, its data,
  the Gaia-ESO line list and the atmosnet networks.
* :mod:`.linelist`: the Gaia-ESO list in SYNSPEC's format, and the approximations made.
* :mod:`.atmosphere`: atmosnet models, ATLAS9 and MARCS files, Kurucz output.
* :mod:`.run`: one SYNSPEC run, :func:`synthesize`.
* :mod:`.builder`: a grid of base models on Dask, resumable.
"""

from importlib import import_module

_HOMES = {
    "AtmosNet": "atmosphere",
    "Atmosphere": "atmosphere",
    "read_atlas9": "atmosphere",
    "read_atmosphere": "atmosphere",
    "read_marcs": "atmosphere",
    "BuildReport": "builder",
    "build_base_grid": "builder",
    "sample_base_parameters": "builder",
    "CompilerMissingError": "errors",
    "NotInstalledError": "errors",
    "SynthesisError": "errors",
    "Installation": "install",
    "install": "install",
    "installation": "install",
    "is_installed": "install",
    "LineList": "linelist",
    "read_gaia_eso": "linelist",
    "synthesize": "run",
}


def __getattr__(name: str):
    # Imported on first use, so that the command line starts without loading the readers.
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)


__all__ = [  # noqa: F822 (resolved by __getattr__)
    "AtmosNet",
    "Atmosphere",
    "BuildReport",
    "CompilerMissingError",
    "Installation",
    "LineList",
    "NotInstalledError",
    "SynthesisError",
    "build_base_grid",
    "install",
    "installation",
    "is_installed",
    "read_atlas9",
    "read_atmosphere",
    "read_gaia_eso",
    "read_marcs",
    "sample_base_parameters",
    "synthesize",
]
