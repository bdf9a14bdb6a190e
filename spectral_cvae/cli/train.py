"""``spectral-cvae train``: train the conditional VAE on a grid file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..files import exclusive
from .options import check_output, count, real, seed

OVERRIDES = (
    ("epochs", count(1), "maximum number of epochs"),
    ("batch_size", count(1), "spectra per step"),
    ("learning_rate", real(above=0), "initial Adam learning rate"),
    ("beta", real(minimum=0), "weight of the KL term"),
    ("patience", count(0), "EarlyStopping patience, epochs"),
    ("latent_dim", count(1), "dimension of z"),
    ("validation", real(minimum=0), "validation size (fraction or count) when no --split"),
    ("test", real(minimum=0), "test size (fraction or count) when no --split"),
)
"""Command-line options that override a field of the chosen CVAEConfig preset."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    train = commands.add_parser(
        "train", help="train the conditional VAE on a grid and save it as one .keras file"
    )
    train.add_argument("--grid", type=Path, required=True, help="grid file (HDF5)")
    train.add_argument(
        "--preset",
        choices=["demo", "paper"],
        default="paper",
        help="architecture and training settings (default paper: Gebran & Bentley 2025)",
    )
    train.add_argument("--out", type=Path, required=True, help="model file to write (.keras)")
    train.add_argument("--split", type=Path, help="split JSON from `spectral-cvae grid split`")
    train.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    overrides = train.add_argument_group("overrides of the preset")
    for name, kind, text in OVERRIDES:
        overrides.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    train.add_argument(
        "--checkpoint-every",
        type=count(1),
        default=1,
        help="epochs between resumable checkpoints (default 1)",
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="discard a checkpoint of an interrupted run instead of resuming it",
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out (a finished run)"
    )
    train.add_argument(
        "--devices",
        type=devices,
        default="auto",
        help="data-parallel devices: 'auto' (all that Keras lists, JAX backend), 'none' "
        "(one device) or a comma-separated list such as gpu:0,gpu:1",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run)


def devices(text: str) -> str | list[str] | None:
    """The --devices option: 'auto', 'none' or a comma-separated list of devices."""
    if text in ("auto", "none"):
        return None if text == "none" else text
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(":" not in name for name in names):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected 'auto', 'none' or devices such as gpu:0,gpu:1"
        )
    return names


def run(args: argparse.Namespace) -> int:
    from ..model import CVAEConfig, train

    overrides = {n: getattr(args, n) for n, _, _ in OVERRIDES if getattr(args, n) is not None}
    config = CVAEConfig.preset(args.preset, **overrides)
    start = time.perf_counter()
    generator = train(
        args.grid,
        config,
        split=args.split,
        seed=args.seed,
        out=args.out,
        resume=not args.restart,
        checkpoint_every=args.checkpoint_every,
        verbose=0 if args.quiet else "auto",
        overwrite=args.overwrite,
        devices=args.devices,
    )
    provenance = generator.provenance
    best = provenance["history"][provenance["best_epoch"]] if provenance["history"] else {}
    monitor = provenance["monitor"]
    print(
        f"trained {provenance['epochs_trained']} epochs in {time.perf_counter() - start:.1f} s; "
        f"best epoch {provenance['best_epoch']}: {monitor} {best.get(monitor, float('nan')):.3g}"
    )
    print(f"wrote {args.out} (history in {args.out.with_name(args.out.stem + '.history.csv')})")
    return 0


PHYSICS_OVERRIDES = (
    ("epochs", count(1), "maximum number of epochs"),
    ("batch_size", count(1), "base spectra per step"),
    ("learning_rate", real(above=0), "initial Adam learning rate"),
    ("beta", real(minimum=0), "weight of the KL term"),
    ("patience", count(0), "EarlyStopping patience, epochs"),
    ("latent_dim", count(1), "dimension of z"),
    ("n_components", count(1), "PCA components of the base spectra (logit space)"),
    ("validation", real(minimum=0), "validation base models (fraction or count)"),
    ("test", real(minimum=0), "test base models (fraction or count)"),
)
"""Command-line options that override a field of the physics-aware preset."""


def add_physics_command(commands: argparse._SubParsersAction) -> None:
    """Register ``train-physics``."""
    physics = commands.add_parser(
        "train-physics",
        help="train the physics-aware CVAE (base spectra + exact v sin i and R broadening) "
        "on the starter grid and more packed base grids",
    )
    physics.add_argument("--out", type=Path, required=True, help="model file to write (.keras)")
    physics.add_argument(
        "--base-grid",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a packed base grid of more models (repeatable); the shipped starter grid is "
        "always included",
    )
    physics.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    physics.add_argument(
        "--allow-other-physics",
        action="store_true",
        help="join base grids computed with different physics (He I, molecules)",
    )
    overrides = physics.add_argument_group("overrides of the physics preset")
    for name, kind, text in PHYSICS_OVERRIDES:
        overrides.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    physics.add_argument(
        "--time-limit", type=real(above=0), help="stop after the first epoch past this many seconds"
    )
    physics.add_argument(
        "--checkpoint-every", type=count(1), default=25, help="epochs between checkpoints (25)"
    )
    physics.add_argument(
        "--restart", action="store_true", help="discard a checkpoint instead of resuming it"
    )
    physics.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out (a finished run)"
    )
    physics.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    physics.set_defaults(run=run_physics)


def run_physics(args: argparse.Namespace) -> int:
    from ..model import PhysicsConfig

    overrides = {
        n: getattr(args, n) for n, _, _ in PHYSICS_OVERRIDES if getattr(args, n) is not None
    }
    config = PhysicsConfig.preset("physics", **overrides)
    check_output(args.out, (".keras",), args.overwrite)
    with exclusive(args.out, "training run"):
        return _train_physics(args, config)


def _train_physics(args: argparse.Namespace, config: object) -> int:
    from ..model import TimeLimit, load_base_grids, train_physics

    base = load_base_grids(args.base_grid, allow_other_physics=args.allow_other_physics)
    for record in base.provenance["base_grids"]:
        print(f"base grid {record['file']}: {record['n_models']} models, sha256 {record['sha256']}")
    start = time.perf_counter()
    generator = train_physics(
        base,
        config,
        seed=args.seed,
        out=args.out,
        resume=not args.restart,
        checkpoint_every=args.checkpoint_every,
        callbacks=[TimeLimit(args.time_limit)] if args.time_limit else [],
        verbose=0 if args.quiet else 2,
    )
    provenance = generator.provenance
    split = provenance["split"]
    best = provenance["history"][provenance["best_epoch"]] if provenance["history"] else {}
    monitor = provenance["monitor"]
    print(
        f"split by base model: train {split['train']}, validation {split['validation']}, "
        f"test {split['test']} stars"
    )
    print(
        f"trained {provenance['epochs_trained']} epochs in {time.perf_counter() - start:.1f} s; "
        f"best epoch {provenance['best_epoch']}: {monitor} {best.get(monitor, float('nan')):.3g}"
    )
    print(f"wrote {args.out}")
    return 0
