"""The whole evaluation in one call: numbers (JSON), figures (PNG) and a summary (MD/HTML).

:func:`evaluate_model` is what ``spectral-cvae evaluate`` and the demo run. It reproduces the
paper's evidence (section 4) on the grid's held-out test spectra and sets our numbers beside
the paper's.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..emulator import SpectrumEmulator
from ..errors import ConfigError
from ..files import atomic_path
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid
from ..inversion import PCAInverter
from ..parameters import ParameterSpace, with_unit
from . import plots
from .accuracy import SIGNAL_TO_NOISE, inverter_accuracy
from .breakdown import LATENTS, BreakdownAccumulator, breakdown_table, residual_breakdown
from .held_out import held_out_split
from .maps import heat_map, marginals
from .residuals import (
    ResidualStatistics,
    check_compatible,
    generate_checked,
    residual_statistics,
)
from .speed import speed_report

PAPER = {
    "median_abs_residual_below": plots.PAPER_MEDIAN_LIMIT,
    "heat_map_mean_abs_residual_below": plots.PAPER_HEAT_MAP_LIMIT,
    "test_spectra": 10_000,
    "table3": {
        # training, validation, test, generated (Gebran & Bentley 2025, Table 3)
        "teff": [30.0, 45.0, 60.0, 65.0],
        "logg": [0.04, 0.04, 0.04, 0.04],
        "vsini": [3.0, 5.1, 6.2, 6.1],
        "mh": [0.030, 0.035, 0.029, 0.030],
        "vmic": [0.08, 0.10, 0.08, 0.09],
    },
    "table3_columns": ["train", "validation", "test", "generated"],
    "speedup": "about two orders of magnitude over line-by-line radiative transfer",
}
"""The paper's published evaluation numbers (Gebran & Bentley 2025, section 4 and Table 3)."""
TABLE_PARTS = ("train", "validation", "test", "generated")


def evaluate_model(
    generator: SpectrumEmulator,
    grid: SpectralGrid,
    split: GridSplit | None,
    out_dir: str | os.PathLike,
    *,
    allow_seen_base_models: bool = False,
    allow_other_physics: bool = False,
    inverter: PCAInverter | str | os.PathLike | None = None,
    accuracy: bool = True,
    pair: tuple[str, str] = ("teff", "logg"),
    bins: int | tuple[int, int] = (14, 12),
    marginal_bins: int = 10,
    latent: str = "mean",
    signal_to_noise: Sequence[float] = SIGNAL_TO_NOISE,
    batch_size: int = 256,
    synthesis: bool = True,
    figures: bool = True,
    seed: int = 0,
    progress: bool | None = None,
) -> dict:
    """Evaluate a generator on the grid's test spectra and write the report.

    Parameters
    ----------
    generator
        The trained CVAE's :class:`~spectral_cvae.model.SpectrumGenerator`, or anything with
        ``generate(parameters, latent=...)``, ``wavelength`` and ``space``.
    grid
        The grid the generator was trained on (its test rows are used), or a grid of held-out
        stars (every row is a test spectrum; e.g. :func:`~spectral_cvae.grid.unseen_stars`).
    split
        A train / validation / test split to use; None uses the model's own split (see
        :func:`~spectral_cvae.evaluation.held_out.held_out_split`). Test spectra of base models
        the model trained on are refused.
    out_dir
        Folder for ``report.json``, ``report.md``, ``report.html``, the PNGs and, when an
        inverter is fitted here, ``inverter.npz``; created if needed.
    allow_seen_base_models
        Measure test spectra of base models seen in training anyway (a leaky split, on
        purpose); the report says how many there were.
    allow_other_physics
        Test on a grid computed with other physics than the model's training grid.
    inverter
        For the accuracy table: a fitted :class:`~spectral_cvae.inversion.PCAInverter`, a
        path to a saved one, an unfitted one whose copy is fitted on ``split`` (the object
        given stays unfitted), or None to fit the paper's (``PCAInverter()``: 5000-2000-1000-64
        hidden units, up to 1,000 epochs).
    accuracy
        Compute the inverter's accuracy table (False skips the inverter entirely).
    pair
        Parameter pair of the heat map (any two of the space's names).
    bins
        Heat-map bins along the pair (one int for both).
    marginal_bins
        Bins per parameter of the marginal plots.
    latent
        Passed to ``generator.generate`` (``"mean"``: decode the latent mean).
    signal_to_noise
        S/N values of the inverter's noise table.
    batch_size
        Spectra generated and read per step.
    synthesis
        Time one SYNSPEC synthesis for the speed comparison, if SYNSPEC is available.
    figures
        Write the PNG figures.
    seed
        Seed of the added noise.
    progress
        Progress bars (spectra, and the inverter's epochs with the time left); None shows
        them only on a terminal.

    Returns
    -------
    dict
        Everything written to ``report.json``: ``residuals``, ``breakdown`` (by v sin i, R and
        Teff, with z = 0 and sampled), ``heat_map``, ``marginals``, ``accuracy``, ``speed``,
        ``example``, ``paper`` and ``files`` (paths written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_compatible(generator, grid)
    split, held_out = held_out_split(
        generator, grid, split, allow_seen_base_models, allow_other_physics
    )
    if accuracy and not len(split.train) and not _is_fitted(inverter):
        raise ConfigError(
            "the test grid has no training spectra to fit the PCA inverter on: pass a fitted "
            "inverter (or a saved one), or skip the inverter's accuracy"
        )
    space = grid.space
    statistics, breakdown = _residuals(generator, grid, split, latent, batch_size, seed, progress)
    maps = _maps(statistics, space, pair, bins, marginal_bins)
    example = _typical_example(generator, grid, statistics, latent)
    report: dict = {
        "grid": {
            "file": str(grid.path) if getattr(grid, "path", None) else None,
            "n_spectra": grid.n_spectra,
            "n_pixels": grid.n_pixels,
            "wavelength_range_angstrom": [float(grid.wavelength[0]), float(grid.wavelength[-1])],
            "provenance": grid.provenance,
        },
        "split": {"seed": split.seed, **split.sizes(), **held_out},
        "latent": latent,
        "residuals": statistics.to_dict(),
        "breakdown": breakdown,
        "heat_map": maps["heat_map"].to_dict(),
        "marginals": {
            kind: {name: m.to_dict() for name, m in maps[kind].items()}
            for kind in ("mean_abs", "bias")
        },
        "example": example,
        "paper": PAPER,
    }
    files: dict[str, str] = {}
    if accuracy:
        fitted = _inverter(inverter, grid, split, out, files, progress)
        report["inverter"] = {"hyperparameters": fitted.get_params(), **_pca_summary(fitted)}
        report["accuracy"] = inverter_accuracy(
            fitted, grid, split, generator, latent, signal_to_noise, batch_size, seed
        )
    report["speed"] = speed_report(
        generator, grid.parameters[split.test], space.names, latent, synthesis
    )
    if figures:
        files.update(_write_figures(report, statistics, maps, grid, out))
    _write_report(report, files, space.names, out)
    return report


def _residuals(
    generator: SpectrumEmulator,
    grid: SpectralGrid,
    split: GridSplit,
    latent: str,
    batch_size: int,
    seed: int,
    progress: bool | None,
) -> tuple[ResidualStatistics, dict]:
    """The residual statistics of the test spectra and their breakdown by v sin i, R and
    Teff, for ``latent`` from the statistics' own pass and for the other latent by another."""
    accumulator = BreakdownAccumulator(grid.space, (latent, *(z for z in LATENTS if z != latent)))
    statistics = residual_statistics(
        generator,
        grid,
        split.test,
        latent=latent,
        batch_size=batch_size,
        progress=progress,
        on_batch=lambda parameters, delta: accumulator.add(latent, parameters, np.abs(delta)),
    )
    others = tuple(z for z in LATENTS if z != latent)
    breakdown = residual_breakdown(
        generator, grid, split.test, batch_size, seed, others, accumulator=accumulator
    )
    return statistics, breakdown


def _maps(
    statistics: ResidualStatistics,
    space: ParameterSpace,
    pair: tuple[str, str],
    bins: int | tuple[int, int],
    marginal_bins: int,
) -> dict:
    """The per-spectrum mean |Delta F| over ``pair`` (``heat_map``) and along each parameter
    (``mean_abs``), and the per-spectrum mean Delta F along each parameter (``bias``)."""
    parameters = statistics.parameters
    return {
        "heat_map": heat_map(
            parameters, statistics.spectrum_mean_abs, space, pair[0], pair[1], bins
        ),
        "mean_abs": marginals(parameters, statistics.spectrum_mean_abs, space, marginal_bins),
        "bias": marginals(parameters, statistics.spectrum_bias, space, marginal_bins),
    }


def _typical_example(
    generator: SpectrumEmulator, grid: SpectralGrid, statistics: ResidualStatistics, latent: str
) -> dict:
    """The typical test spectrum (whose mean |Delta F| is the median), synthetic and
    generated."""
    typical = int(np.argsort(statistics.spectrum_mean_abs)[len(statistics.indices) // 2])
    row = int(statistics.indices[typical])
    parameters = grid.parameters[row : row + 1]
    return {
        "index": row,
        "parameters": dict(zip(grid.space.names, parameters[0].tolist())),
        "synthetic": grid.read_flux(row).astype(float).tolist(),
        "generated": generate_checked(generator, parameters, grid.n_pixels, latent)[0].tolist(),
    }


def _write_figures(
    report: dict, statistics: ResidualStatistics, maps: dict, grid: SpectralGrid, out: Path
) -> dict[str, Path]:
    """The report's PNG figures, by name."""
    space, example = grid.space, report["example"]
    row = example["index"]
    files = {
        "residual_spectrum": plots.plot_residual_spectrum(
            statistics, out / "residual_spectrum.png"
        ),
        "heat_map": plots.plot_heat_map(maps["heat_map"], space, out / "heat_map.png"),
        "marginals": plots.plot_marginals(
            maps["mean_abs"], space, out / "marginals.png", "mean |Delta F| per spectrum"
        ),
        "marginals_bias": plots.plot_marginals(
            maps["bias"], space, out / "marginals_bias.png", "mean Delta F per spectrum"
        ),
        "example": plots.plot_example(
            grid.wavelength,
            np.asarray(example["synthetic"]),
            np.asarray(example["generated"]),
            f"test spectrum {row} (typical: median mean |Delta F|): {grid.describe(row)}",
            out / "example.png",
        ),
    }
    if "accuracy" in report:
        header, rows = accuracy_rows(report["accuracy"], space.names)
        files["accuracy_table"] = plots.plot_accuracy_table(
            rows, header, out / "accuracy_table.png"
        )
    return files


def _write_report(report: dict, files: dict, names: Sequence[str], out: Path) -> None:
    """``report.json``, ``report.md`` and ``report.html``; ``report["files"]`` lists every
    file written."""
    report["files"] = {k: str(v) for k, v in files.items()}
    report["files"].update(
        json=str(out / "report.json"),
        markdown=str(out / "report.md"),
        html=str(out / "report.html"),
    )
    blocks = summary_blocks(report, names)
    _write_text(out / "report.json", json.dumps(_jsonable(report)))
    _write_text(out / "report.md", render_markdown(blocks))
    _write_text(out / "report.html", render_html(blocks))


def _inverter(
    inverter: PCAInverter | str | os.PathLike | None,
    grid: SpectralGrid,
    split: GridSplit,
    out: Path,
    files: dict,
    progress: bool | None = None,
) -> PCAInverter:
    """A fitted inverter from whatever the caller gave; one fitted here is saved in ``out``.

    An unfitted inverter is not fitted in place: a copy with its hyper-parameters is (the
    clone contract), so the caller's object comes back as it was given.
    """
    if isinstance(inverter, (str, os.PathLike)):
        return PCAInverter.load(inverter)
    if inverter is not None and inverter.is_fitted:
        return inverter
    fresh = PCAInverter() if inverter is None else type(inverter)(**inverter.get_params())
    fresh.fit(grid, split, progress=progress)
    files["inverter"] = fresh.save(out / "inverter.npz")
    return fresh


def describe_test_set(split: dict) -> str:
    """Where the test spectra came from and whether they are stars the model never saw."""
    sentence = f"Test spectra: {split['origin']}, split by {split['by']}."
    seen = split.get("seen")
    if not split.get("checked"):
        return sentence + " The model recorded no training base models: overlap not checked."
    if seen["test_spectra"]:
        return sentence + (
            f" LEAKY: {seen['test_spectra']} test spectra ({seen['base_models']} base models) "
            f"are stars the model was trained on."
        )
    return sentence + " None of them is a star (base model) the model was trained on."


def _is_fitted(inverter: PCAInverter | str | os.PathLike | None) -> bool:
    return isinstance(inverter, (str, os.PathLike)) or bool(getattr(inverter, "is_fitted", False))


def _pca_summary(inverter: PCAInverter) -> dict:
    pca = inverter.pca_
    kept = float(pca.explained_variance.sum() / pca.total_variance) if pca.total_variance else 1.0
    epochs = len(inverter.history_.get("loss", []))
    return {"pca_variance_fraction": kept, "epochs_trained": epochs}


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def _jsonable(value):
    """NumPy scalars and arrays to Python, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- the summary ---------------------------------------------------------------------------
def _number(value: float | None, name: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    digits = {"teff": "{:.0f}", "resolution": "{:.0f}", "vsini": "{:.1f}", "vmic": "{:.2f}"}
    return digits.get(name, "{:.3g}").format(value)


def _mae_rms(entry: dict, name: str) -> str:
    errors = entry["errors"][name]
    return f"{_number(errors['mae'], name)} / {_number(errors['rms'], name)}"


def accuracy_rows(accuracy: dict, names: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The accuracy table as text: one row per parameter, "MAE / RMS" per part, the paper's.

    Returns
    -------
    header, rows
    """
    parts = accuracy["parts"]
    shown = [p for p in (*TABLE_PARTS, "mean_predictor") if p in parts]
    header = ["parameter", *[p.replace("_", " ") for p in shown], "paper (train/val/test/gen)"]
    rows = []
    for name in names:
        unit = next(iter(parts.values()))["errors"][name]["unit"]
        cells = [with_unit(name, unit)]
        cells += [_mae_rms(parts[part], name) for part in shown]
        paper = PAPER["table3"].get(name)
        cells.append(" / ".join(_number(v, name) for v in paper) if paper else "not given")
        rows.append(cells)
    return header, rows


def summary_blocks(report: dict, names: Sequence[str]) -> list[tuple]:
    """The summary as blocks: ``("h", text)``, ``("p", text)``, ``("table", header, rows)``,
    ``("img", file, caption)``; rendered by :func:`render_markdown` and :func:`render_html`."""
    residuals, plane = report["residuals"], report["heat_map"]
    overall = residuals["overall"]
    median_ok = overall["median"] < PAPER["median_abs_residual_below"]
    heat_ok = plane["maximum"] < PAPER["heat_map_mean_abs_residual_below"]
    grid = report["grid"]
    blocks: list[tuple] = [
        ("h", "spectral-cvae evaluation report"),
        (
            "p",
            f"Grid {grid['file'] or '(in memory)'}: {grid['n_spectra']} spectra x "
            f"{grid['n_pixels']} pixels, {grid['wavelength_range_angstrom'][0]:.2f}-"
            f"{grid['wavelength_range_angstrom'][1]:.2f} A. Split (seed {report['split']['seed']})"
            f": train {report['split']['train']}, validation {report['split']['validation']}, "
            f"test {report['split']['test']}. Generation with latent = {report['latent']!r}. "
            f"Delta F = generated - synthetic, in continuum units.",
        ),
        ("p", describe_test_set(report["split"])),
        ("h", "Residuals on the test spectra"),
        (
            "table",
            ["quantity", "ours", "paper"],
            [
                [
                    "median |Delta F|",
                    f"{overall['median']:.2e} ({'meets' if median_ok else 'misses'} the paper)",
                    f"< {PAPER['median_abs_residual_below']:.1e}",
                ],
                [
                    "68th / 95th / 99th percentile |Delta F|",
                    f"{overall['p68']:.2e} / {overall['p95']:.2e} / {overall['p99']:.2e}",
                    "-",
                ],
                [
                    "mean |Delta F|, RMS, largest",
                    f"{overall['mean']:.2e}, {overall['rms']:.2e}, {overall['max']:.2e}",
                    "-",
                ],
                ["bias (mean Delta F)", f"{overall['bias']:+.2e}", "no wavelength bias"],
                [
                    f"largest mean |Delta F| in a {plane['x']}-{plane['y']} bin",
                    f"{plane['maximum']:.2e} ({'meets' if heat_ok else 'misses'} the paper; "
                    f"{plane['n_empty_bins']} of {len(plane['count']) * len(plane['count'][0])} "
                    f"bins empty)",
                    f"< {PAPER['heat_map_mean_abs_residual_below']:.0e} everywhere",
                ],
                ["test spectra", str(residuals["n_spectra"]), str(PAPER["test_spectra"])],
            ],
        ),
        (
            "p",
            "Marginals (Spearman rank correlation of each spectrum's mean |Delta F| with each "
            "parameter; near 0 means no trend): "
            + ", ".join(
                f"{name} {'-' if m['spearman'] is None else format(m['spearman'], '+.2f')}"
                for name, m in report["marginals"]["mean_abs"].items()
            )
            + ".",
        ),
    ]
    if "breakdown" in report:
        header, rows = breakdown_table(report["breakdown"])
        blocks += [
            ("h", "Where the residuals are: by v sin i, R and Teff"),
            (
                "p",
                "Median and 95th percentile of |Delta F| over the pixels of the test spectra in "
                "each bin, with the latent mean (z = 0) and with z drawn from N(0, I) as the "
                "paper generates. Broad-lined spectra are smooth and easy: the sharp-lined row "
                "is the typical FGK survey star.",
            ),
            ("table", header, rows),
        ]
    if "accuracy" in report:
        header, rows = accuracy_rows(report["accuracy"], names)
        measures = report["accuracy"]["error_measures"]
        blocks += [
            ("h", "Inverter accuracy (the paper's Table 3)"),
            (
                "p",
                f"Each cell: MAE / RMS, in the parameter's unit (MAE = {measures['mae']}; RMS = "
                f"{measures['rms']}). 'generated': the inverter applied to spectra generated at "
                f"the test parameters. 'mean predictor': always the mean training parameters, "
                f"the floor to beat. The paper does not say which error its table gives. "
                f"PCA keeps {report['inverter']['pca_variance_fraction']:.4%} of the variance "
                f"with {report['inverter']['hyperparameters']['n_components']} components; the "
                f"network trained for {report['inverter']['epochs_trained']} epochs.",
            ),
            ("table", header, rows),
        ]
        noise = report["accuracy"]["noise"]
        if noise["signal_to_noise"]:
            levels = list(noise["signal_to_noise"])
            blocks += [
                ("p", f"Test spectra with added noise ({noise['model']}); MAE / RMS:"),
                (
                    "table",
                    ["parameter", *[f"S/N {s}" for s in levels]],
                    [
                        [name, *[_mae_rms(noise["signal_to_noise"][s], name) for s in levels]]
                        for name in names
                    ],
                ),
            ]
    speed = report["speed"]
    generation = speed["generation"]
    synthesis = speed["synthesis"]
    speed_rows = [
        ["generation, one spectrum per call", f"{generation['single_seconds'] * 1e3:.2f} ms"],
        [
            f"generation, batches of {generation['batch_size']}",
            f"{generation['batched_seconds_per_spectrum'] * 1e3:.3f} ms per spectrum",
        ],
        [
            "one SYNSPEC synthesis",
            f"{synthesis['seconds']:.1f} s"
            if synthesis["measured"]
            else f"not measured: {synthesis['reason']}",
        ],
    ]
    if synthesis["measured"]:
        speed_rows.append(
            [
                "speed-up (synthesis / generation)",
                f"{speed['speedup_single']:.0f}x single, {speed['speedup_batched']:.0f}x batched",
            ]
        )
    blocks += [
        ("h", "Speed"),
        ("table", ["step", "time"], speed_rows),
        ("p", f"Paper: {PAPER['speedup']}."),
    ]
    captions = {
        "residual_spectrum": "Bias, scatter and |Delta F| percentiles against wavelength",
        "heat_map": "Mean |Delta F| over the parameter plane, and spectra per bin",
        "marginals": "Mean |Delta F| per spectrum against each parameter (median, 16-84 %)",
        "marginals_bias": "Mean Delta F per spectrum against each parameter",
        "example": "A typical test spectrum, generated over synthetic, with its residual",
        "accuracy_table": "The accuracy table",
    }
    figures = [(k, v) for k, v in report["files"].items() if k in captions]
    if figures:
        blocks.append(("h", "Figures"))
        blocks += [("img", Path(path).name, captions[key]) for key, path in figures]
    return blocks


def render_markdown(blocks: list[tuple]) -> str:
    """Markdown text of summary blocks."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += [f"{'#' if not lines else '##'} {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            # A bare "|" (as in |Delta F|) would end a Markdown table cell.
            lines.append("| " + " | ".join(h.replace("|", "\\|") for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(lines)


def render_html(blocks: list[tuple]) -> str:
    """A standalone HTML page of summary blocks (figures linked by file name)."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            tag = "h1" if not body else "h2"
            body.append(f"<{tag}>{html.escape(block[1])}</{tag}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(
                f'<figure><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}" '
                f'style="max-width:100%"><figcaption>{html.escape(block[2])}</figcaption></figure>'
            )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}"
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>spectral-cvae evaluation'
        f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
