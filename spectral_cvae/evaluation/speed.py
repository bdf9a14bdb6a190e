"""Speed of generation against radiative transfer, both measured on this machine.

The paper claims generation about two orders of magnitude faster than line-by-line
radiative transfer. Here both are timed: the generator on one spectrum per call (what a
fitting loop does) and on a batch, and one SYNSPEC synthesis of the same parameters when
the SYNSPEC builder and a SYNSPEC executable are available. If they are not, the report
says so and why, and gives no ratio.
"""

from __future__ import annotations

import time

import numpy as np

from ..emulator import SpectrumEmulator


def time_generation(
    generator: SpectrumEmulator,
    parameters: np.ndarray,
    repeats: int = 5,
    batch_size: int = 256,
    latent: str = "mean",
) -> dict:
    """Wall time of generation, per spectrum.

    Parameters
    ----------
    generator
        Anything with ``generate(parameters, latent=...)``.
    parameters
        Points to generate, shape ``(n, n_parameters)``; the first ``repeats`` are
        generated one per call, the first ``batch_size`` in one call.
    repeats
        Single-spectrum calls timed (the median is reported, after one warm-up call).
    batch_size
        Spectra in the batched call.
    latent
        Passed to ``generator.generate``.

    Returns
    -------
    dict
        ``single_seconds`` (one spectrum per call, median), ``batched_seconds_per_spectrum``
        and ``batch_size``.
    """
    parameters = np.asarray(parameters, dtype=float)
    generator.generate(parameters[:1], latent=latent)  # warm-up: graph tracing, caches
    single = []
    for k in range(min(repeats, len(parameters))):
        start = time.perf_counter()
        generator.generate(parameters[k : k + 1], latent=latent)
        single.append(time.perf_counter() - start)
    batch = parameters[:batch_size]
    start = time.perf_counter()
    generator.generate(batch, latent=latent)
    batched = (time.perf_counter() - start) / len(batch)
    return {
        "single_seconds": float(np.median(single)),
        "batched_seconds_per_spectrum": float(batched),
        "batch_size": len(batch),
    }


def time_synthesis(parameters: np.ndarray, names: tuple[str, ...], wavelength: np.ndarray) -> dict:
    """Wall time of one SYNSPEC synthesis at ``parameters`` over the window of ``wavelength``.

    Parameters
    ----------
    parameters
        One point, shape ``(n_parameters,)``, named by ``names``; ``teff``, ``logg``, ``mh``
        and ``vmic`` are passed to the synthesis (rotation and resolution are convolutions
        applied afterwards, a few ms, not included).
    names
        Parameter names, in order.
    wavelength
        Angstrom: the window is its first to last value, the step its first spacing.

    Returns
    -------
    dict
        ``measured`` (bool), ``seconds`` when measured, else ``reason``.
    """
    try:
        from ..grid.synthesis import synthesize
    except ImportError as exc:
        return {"measured": False, "reason": f"the SYNSPEC builder is not available ({exc})"}
    values = dict(zip(names, np.asarray(parameters, dtype=float)))
    window = (float(wavelength[0]), float(wavelength[-1]))
    step = float(wavelength[1] - wavelength[0])
    start = time.perf_counter()
    try:
        synthesize(
            values["teff"], values["logg"], values["mh"], values["vmic"], window=window, step=step
        )
    except Exception as exc:  # any failure of an external program means "not measured"
        return {
            "measured": False,
            "reason": f"no SYNSPEC synthesis ({type(exc).__name__}: {exc})",
        }
    return {"measured": True, "seconds": time.perf_counter() - start, "window": list(window)}


def speed_report(
    generator: SpectrumEmulator,
    parameters: np.ndarray,
    names: tuple[str, ...],
    latent: str = "mean",
    synthesis: bool = True,
) -> dict:
    """Generation and synthesis times and their ratio.

    Parameters
    ----------
    generator
        The generator.
    parameters
        Test points, shape ``(n, n_parameters)``; the first is also synthesized.
    names
        Parameter names, in order.
    latent
        Passed to ``generator.generate``.
    synthesis
        Time one SYNSPEC synthesis too (it can take minutes).

    Returns
    -------
    dict
        ``generation`` (see :func:`time_generation`), ``synthesis`` (see
        :func:`time_synthesis`) and, when both are measured, ``speedup_single`` and
        ``speedup_batched`` (synthesis time / generation time per spectrum).
    """
    generation = time_generation(generator, parameters, latent=latent)
    report = {"generation": generation}
    if synthesis:
        report["synthesis"] = time_synthesis(
            parameters[0], names, np.asarray(generator.wavelength, dtype=float)
        )
    else:
        report["synthesis"] = {"measured": False, "reason": "not requested"}
    if report["synthesis"]["measured"]:
        seconds = report["synthesis"]["seconds"]
        report["speedup_single"] = seconds / generation["single_seconds"]
        report["speedup_batched"] = seconds / generation["batched_seconds_per_spectrum"]
    return report
