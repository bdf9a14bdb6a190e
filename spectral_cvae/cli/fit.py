"""``spectral-cvae fit``: stellar parameters of observed spectra through a trained generator.

One spectrum: a JSON result and a PNG of data, model and residual; with ``--sample`` also the
posterior sampled by emcee (its chains in an ``.npz`` and a corner plot). Several (a list of files
or a table of them): fitted in parallel processes with a progress bar, one row per spectrum
in a CSV; a file that cannot be read or fitted is reported in its row and skipped.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, SpectrumInputError
from .options import count

FIT_OPTIONS = ("resolution", "medium", "radial_velocity")
"""Per-spectrum settings a table may give in columns of these names."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``fit``."""
    fit = commands.add_parser(
        "fit",
        help="fit stellar parameters, radial velocity and continuum to observed spectra",
        description="One spectrum -> --out result.json (+ a PNG). Several spectra, or "
        "--table list.csv -> --out results.csv, fitted in parallel; bad files are reported "
        "and skipped.",
    )
    fit.add_argument(
        "spectra", nargs="*", type=Path,
        help="observed spectra: FITS (1-D with a wavelength WCS, or a table) or CSV/text",
    )
    fit.add_argument(
        "--model",
        type=Path,
        help="model file (.keras); default the pretrained model shipped in the package",
    )
    fit.add_argument(
        "--table", type=Path,
        help="CSV listing spectra: a column 'path' (or the first column), optionally "
        "'resolution', 'medium', 'radial_velocity' per spectrum; paths relative to the table",
    )
    fit.add_argument(
        "--out", type=Path,
        help="one spectrum: JSON result (default: print a summary); several: CSV of results",
    )
    fit.add_argument("--plot", type=Path, help="PNG of one fit (default: --out with .png)")
    fit.add_argument("--no-plot", action="store_true", help="write no PNG")
    fit.add_argument(
        "--details", type=Path,
        help="several spectra: also write <name>.json and <name>.png of each fit here",
    )
    fit.add_argument("--resolution", type=float, help="known resolving power R (held fixed)")
    fit.add_argument(
        "--medium", choices=("air", "vacuum"),
        help="medium of the wavelengths (default: as the file says, else air)",
    )
    fit.add_argument(
        "--radial-velocity", type=float, help="known radial velocity, km/s (held fixed)"
    )
    fit.add_argument(
        "--rv-range", type=float, nargs=2, default=(-400.0, 400.0), metavar=("MIN", "MAX"),
        help="radial velocities searched, km/s (default -400 400)",
    )
    fit.add_argument(
        "--continuum-order", type=count(0), default=2,
        help="degree of the Chebyshev continuum polynomial (default 2)",
    )
    fit.add_argument(
        "--exclude", action="append", default=[], metavar="START:STOP",
        help="leave out a wavelength range, Angstrom, in the file's wavelengths (repeatable)",
    )
    fit.add_argument(
        "--min-span", type=float, default=50.0,
        help="refuse spectra whose usable pixels span less than this, Angstrom (default 50)",
    )
    fit.add_argument("--inverter", type=Path, help="PCA inverter (.npz): one more start")
    fit.add_argument(
        "--model-error", choices=("auto", "none"), default="auto",
        help="count the generator's own error in the uncertainties: auto (default) uses the "
        "model's model-error file (shipped for the pretrained model; <model>.model-error.npz "
        "beside a model of your own) and counts the noise only without one; none: noise only "
        "(error bars too small at high S/N)",
    )
    sample = fit.add_argument_group(
        "posterior sampling (one spectrum; needs emcee: pip install 'spectral-cvae[fit]')"
    )
    sample.add_argument(
        "--sample", action="store_true",
        help="also sample the posterior with emcee, starting at the fit: writes the chains "
        "(--samples) and a corner plot (--corner), and the percentiles into the JSON",
    )
    sample.add_argument("--walkers", type=count(2), default=None,
                        help="walkers, even (default 4 per sampled quantity, at least 16)")
    sample.add_argument("--steps", type=count(2), default=1000,
                        help="steps per walker (default 1000)")
    sample.add_argument("--burn", type=count(0), default=None,
                        help="steps dropped before the percentiles (default a quarter)")
    sample.add_argument("--seed", type=count(0), default=0,
                        help="seed of the sampler (default 0)")
    sample.add_argument(
        "--samples", type=Path,
        help="chains as .npz (default: --out with -samples.npz, else fit-samples.npz)",
    )
    sample.add_argument(
        "--corner", type=Path,
        help="corner plot PNG (default: --out with -corner.png, else fit-corner.png)",
    )
    fit.add_argument(
        "--jobs", type=count(1), default=None,
        help="parallel processes for several spectra (default: up to 4, one per CPU)",
    )
    fit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tasks = _tasks(args)
    settings = _settings(args)
    if len(tasks) == 1 and args.table is None:
        return _fit_one(tasks[0], args, settings)
    if args.sample:
        raise ConfigError("--sample samples one spectrum at a time: give a single spectrum")
    if args.out is None:
        raise ConfigError("several spectra: give --out results.csv")
    return _fit_many(tasks, args, settings)


# -- one spectrum ------------------------------------------------------------------------------
def _fit_one(task: dict, args: argparse.Namespace, settings: dict) -> int:
    _load(_model_path(args), None if args.inverter is None else str(args.inverter))
    result = _fit(task, settings)
    print(result.summary())
    posterior = _sample(result, args) if args.sample else None
    if args.out is not None:
        if posterior is None:
            result.to_json(args.out)
        else:
            import json

            from ..files import atomic_path

            data = {**result.to_dict(), "posterior": posterior.to_dict()}
            with atomic_path(args.out) as temporary:
                Path(temporary).write_text(json.dumps(data, indent=2) + "\n")
        print(f"result -> {args.out}")
    plot = args.plot or (args.out.with_suffix(".png") if args.out is not None else None)
    if plot is not None and not args.no_plot:
        result.plot(plot)
        print(f"plot -> {plot}")
    return 0


def _sample(result, args: argparse.Namespace):
    """Sample the posterior around ``result``; write the chains and the corner plot."""
    from ..fitting import sample_posterior

    posterior = sample_posterior(
        _LOADED["generator"], result, n_walkers=args.walkers, n_steps=args.steps,
        n_burn=args.burn, seed=args.seed, progress=True,
    )
    print(posterior.summary())
    stem = args.out.with_suffix("") if args.out is not None else Path("fit")
    samples = args.samples or stem.with_name(stem.name + "-samples.npz")
    corner = args.corner or stem.with_name(stem.name + "-corner.png")
    posterior.save(samples)
    print(f"samples -> {samples}")
    posterior.corner(corner)
    print(f"corner plot -> {corner}")
    return posterior


# -- many spectra ------------------------------------------------------------------------------
def _fit_many(tasks: list[dict], args: argparse.Namespace, settings: dict) -> int:
    from tqdm.auto import tqdm

    from ..files import atomic_path

    jobs = args.jobs or min(4, os.cpu_count() or 1, len(tasks))
    details = None
    if args.details is not None:
        args.details.mkdir(parents=True, exist_ok=True)
        details = str(args.details)
    work = [(task, settings, details, not args.no_plot) for task in tasks]
    model = _model_path(args)
    inverter = None if args.inverter is None else str(args.inverter)
    rows: list[dict | None] = [None] * len(tasks)
    with tqdm(total=len(tasks), unit="spectra", desc="fitting", disable=None) as bar:
        if jobs <= 1:
            _load(model, inverter)
            for i, item in enumerate(work):
                rows[i] = _fit_row(item)
                bar.update()
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # Spawned workers: TensorFlow does not survive a fork.
            with ProcessPoolExecutor(
                jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_load, initargs=(model, inverter),
            ) as pool:
                futures = {pool.submit(_fit_row, item): i for i, item in enumerate(work)}
                for future in as_completed(futures):
                    rows[futures[future]] = future.result()
                    bar.update()
    names = _space_names(rows)
    header = ["spectrum", "status", "message"]
    for name in names:
        header += [name, f"{name}_error"]
    header += ["radial_velocity", "radial_velocity_error", "chi2", "reduced_chi2", "n_pixels",
               "converged", "on_bound", "medium", "model_error", "physics_caveats", "elapsed_s"]
    with atomic_path(args.out) as temporary:
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    failed = [row for row in rows if row["status"] != "ok"]
    print(f"fitted {len(rows) - len(failed)} of {len(rows)} spectra -> {args.out}")
    for row in failed:
        print(f"skipped {row['spectrum']}: {row['message']}", file=sys.stderr)
    if len(failed) == len(rows):
        raise SpectrumInputError(f"none of the {len(rows)} spectra could be fitted")
    return 0


def _fit_row(item: tuple) -> dict:
    """Fit one file for the table; any failure becomes the row's message, never an exception."""
    task, settings, details, plot = item
    row: dict = {"spectrum": task["path"]}
    try:
        result = _fit(task, settings)
    except Exception as exc:  # a bad file must not end the batch, whatever it raises
        text = str(exc).splitlines()[0] if str(exc) else ""
        return {**row, "status": "error", "message": f"{type(exc).__name__}: {text}"}
    row.update(status="ok", message=result.message)
    for name, value in result.parameters.items():
        row[name] = f"{value:.6g}"
        row[f"{name}_error"] = f"{result.uncertainties[name]:.3g}"
    row.update(
        radial_velocity=f"{result.radial_velocity:.4f}",
        radial_velocity_error=f"{result.radial_velocity_error:.3g}",
        chi2=f"{result.chi2:.6g}",
        reduced_chi2=f"{result.reduced_chi2:.5g}",
        n_pixels=result.n_pixels,
        converged=result.converged,
        on_bound=";".join(f"{k}:{v}" for k, v in result.on_bound.items()),
        medium=result.medium,
        model_error="none" if result.model_sigma is None else "generator's own error",
        physics_caveats="; ".join(result.physics_caveats),
        elapsed_s=f"{result.elapsed:.3f}",
        names=list(result.parameters),
    )
    if details is not None:
        stem = Path(details) / Path(task["path"]).name.split(".")[0]
        try:
            result.to_json(stem.with_suffix(".json"))
            if plot:
                result.plot(stem.with_suffix(".png"))
        except OSError as exc:
            row["message"] += f"; details not written ({exc})"
    return row


def _space_names(rows: Sequence[dict | None]) -> list[str]:
    for row in rows:
        if row and row.get("names"):
            return list(row["names"])
    from ..parameters import PAPER_SPACE

    return list(PAPER_SPACE.names)


# -- shared ------------------------------------------------------------------------------------
_LOADED: dict = {}
"""The model (and inverter) of this process, loaded once."""


def _model_path(args: argparse.Namespace) -> str:
    """The model to fit with: ``--model``, else the pretrained one."""
    from ..pretrained import pretrained_path

    return str(args.model or pretrained_path())


def _load(model: str, inverter: str | None) -> None:
    from ..model import SpectrumGenerator

    if _LOADED.get("model_path") != model:
        _LOADED.update(model_path=model, generator=SpectrumGenerator.load(model))
    if inverter is not None and _LOADED.get("inverter_path") != inverter:
        from ..inversion import PCAInverter

        _LOADED.update(inverter_path=inverter, inverter=PCAInverter.load(inverter))


def _fit(task: dict, settings: dict):
    import numpy as np

    from ..fitting import fit_spectrum
    from ..io import read_spectrum

    spectrum = read_spectrum(task["path"])
    options = {**settings, **{k: v for k, v in task.items() if k in FIT_OPTIONS}}
    medium = options.pop("medium", None) or spectrum.medium or "air"
    mask = None
    if options.get("exclude"):
        mask = np.zeros(spectrum.wavelength.size, bool)
        for start, stop in options["exclude"]:
            mask |= (spectrum.wavelength >= start) & (spectrum.wavelength <= stop)
    options.pop("exclude", None)
    return fit_spectrum(
        _LOADED["generator"], spectrum, mask=mask, medium=medium,
        inverter=_LOADED.get("inverter"), source=task["path"], **options,
    )


def _settings(args: argparse.Namespace) -> dict:
    """Fit options shared by every spectrum (a table's columns may override some)."""
    settings = {
        "resolution": args.resolution,
        "radial_velocity": args.radial_velocity,
        "radial_velocity_range": tuple(args.rv_range),
        "continuum_order": args.continuum_order,
        "min_span": args.min_span,
        "exclude": [_range(text) for text in args.exclude],
        "model_error": args.model_error,
    }
    if args.medium is not None:
        settings["medium"] = args.medium
    return settings


def _range(text: str) -> tuple[float, float]:
    try:
        start, stop = (float(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"--exclude {text!r}: expected START:STOP in Angstrom") from None
    return min(start, stop), max(start, stop)


def _tasks(args: argparse.Namespace) -> list[dict]:
    tasks = [{"path": str(path)} for path in args.spectra]
    if args.table is not None:
        tasks += _read_table(args.table)
    if not tasks:
        raise ConfigError("give one or more spectra, or --table")
    return tasks


def _read_table(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ConfigError(f"{path}: empty table")
        lower = {name.strip().lower(): name for name in reader.fieldnames}
        column = lower.get("path") or lower.get("file") or reader.fieldnames[0]
        tasks = []
        for k, row in enumerate(reader, start=2):
            name = (row.get(column) or "").strip()
            if not name:
                continue
            file = Path(name) if Path(name).is_absolute() else path.parent / name
            task: dict = {"path": str(file)}
            for option in FIT_OPTIONS:
                value = (row.get(lower.get(option, ""), "") or "").strip()
                if not value:
                    continue
                if option == "medium":
                    task[option] = value.lower()
                else:
                    try:
                        task[option] = float(value)
                    except ValueError:
                        raise ConfigError(
                            f"{path}, line {k}: {option} = {value!r} is not a number"
                        ) from None
            tasks.append(task)
    return tasks
