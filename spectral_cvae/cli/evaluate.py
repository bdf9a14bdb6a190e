"""``spectral-cvae evaluate``: the paper's evaluation of a trained generator, as a report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import SpectralCVAEError
from .options import count, seed


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    evaluate = commands.add_parser(
        "evaluate",
        help="residual statistics, heat map, marginals, inverter accuracy and speed of a model",
        description="Evaluate a trained CVAE as the paper does and write a report. Unless "
        "--inverter or --no-inverter is given, the paper-size PCA inverter (hidden layers "
        "5000 2000 1000 64, up to 1000 epochs with early stopping) is fitted on the training "
        "split first, which can take long on a CPU. On a terminal a progress bar shows the "
        "epochs, their rate and the time left if every epoch runs; --inverter-hidden and "
        "--inverter-epochs make the inverter smaller.",
    )
    evaluate.add_argument("--model", type=Path, required=True, help="trained CVAE (.keras)")
    evaluate.add_argument("--grid", type=Path, required=True, help="the grid it was trained on")
    evaluate.add_argument(
        "--split",
        type=Path,
        help="a split file to test on (default: the split stored in the model, when --grid is "
        "its training grid; every spectrum of any other grid)",
    )
    evaluate.add_argument(
        "--allow-other-physics",
        action="store_true",
        help="test on a grid computed with other physics (He I, molecules) than the model's",
    )
    evaluate.add_argument(
        "--allow-seen-base-models",
        action="store_true",
        help="test on stars (base models) the model was trained on: measures a leaky split "
        "on purpose; refused otherwise",
    )
    evaluate.add_argument("--out", type=Path, required=True, help="folder for the report")
    evaluate.add_argument(
        "--inverter",
        type=Path,
        help="a saved PCA inverter to use (default: fit the paper-size one on the training "
        "split and save it as <out>/inverter.npz)",
    )
    evaluate.add_argument(
        "--no-inverter", action="store_true", help="skip the inverter's accuracy table"
    )
    evaluate.add_argument(
        "--inverter-hidden",
        type=count(1),
        nargs="+",
        metavar="WIDTH",
        help="hidden layer widths of a fitted inverter (default the paper's 5000 2000 1000 64)",
    )
    evaluate.add_argument(
        "--inverter-epochs",
        type=count(1),
        help="largest number of epochs of a fitted inverter (default 1000; early stopping "
        "usually ends sooner)",
    )
    evaluate.add_argument(
        "--pair",
        nargs=2,
        default=["teff", "logg"],
        metavar=("X", "Y"),
        help="parameters of the heat map (default teff logg)",
    )
    evaluate.add_argument(
        "--bins",
        type=count(1),
        nargs=2,
        default=[14, 12],
        metavar=("NX", "NY"),
        help="heat-map bins",
    )
    evaluate.add_argument(
        "--latent", default="mean", help="latent choice passed to the generator (default mean)"
    )
    evaluate.add_argument("--batch-size", type=count(1), default=256, help="spectra per step")
    evaluate.add_argument(
        "--no-synthesis", action="store_true", help="do not time a SYNSPEC synthesis"
    )
    evaluate.add_argument("--seed", type=seed, default=0, help="seed of the added noise")
    evaluate.set_defaults(run=run)


def load_generator(path: Path):
    """The trained CVAE's generator; the model package is imported only when needed."""
    try:
        from ..model import SpectrumGenerator
    except ImportError as exc:
        raise SpectralCVAEError(
            f"{path}: cannot load the model, the CVAE package is not available ({exc})"
        ) from exc
    return SpectrumGenerator.load(path)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_model
    from ..evaluation.breakdown import breakdown_table, format_table
    from ..evaluation.report import describe_test_set
    from ..grid import GridSplit, SpectralGrid
    from ..inversion import PCAInverter

    start = time.perf_counter()
    generator = load_generator(args.model)
    with SpectralGrid.open(args.grid) as grid:
        split = GridSplit.load(args.split, grid.n_spectra) if args.split else None
        inverter = args.inverter
        if inverter is None:
            options = {}
            if args.inverter_hidden:
                options["hidden"] = tuple(args.inverter_hidden)
            if args.inverter_epochs:
                options["epochs"] = args.inverter_epochs
            inverter = PCAInverter(**options)
            if not args.no_inverter:
                print(
                    f"the PCA inverter (hidden {' '.join(map(str, inverter.hidden))}, at most "
                    f"{inverter.epochs} epochs) is fitted after the residuals; its progress bar "
                    "gives the time left"
                )
        report = evaluate_model(
            generator,
            grid,
            split,
            args.out,
            inverter=inverter,
            allow_seen_base_models=args.allow_seen_base_models,
            allow_other_physics=args.allow_other_physics,
            accuracy=not args.no_inverter,
            pair=tuple(args.pair),
            bins=tuple(args.bins),
            latent=args.latent,
            batch_size=args.batch_size,
            synthesis=not args.no_synthesis,
            seed=args.seed,
        )
    overall = report["residuals"]["overall"]
    print(describe_test_set(report["split"]))
    print(
        f"median |Delta F| {overall['median']:.2e} (paper < 1.8e-3), 99th percentile "
        f"{overall['p99']:.2e}, over {report['residuals']['n_spectra']} test spectra"
    )
    print(f"largest heat-map bin mean |Delta F| {report['heat_map']['maximum']:.2e} (paper < 2e-3)")
    header, rows = breakdown_table(report["breakdown"])
    print(format_table(header, rows))
    print(f"report {report['files']['markdown']} ({len(report['files'])} files)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
