"""Speed of the CVAE on each Keras backend: generation throughput and latency, one training step.

Every number is printed next to what this machine can do at most, measured in the same run
and through the same backend: the float32 matrix-multiply rate (GFLOP/s, the best of a square
matmul and the paper decoder's largest layer alone) for the batched, compute-bound cases, and
the memory read bandwidth (GB/s) for a single spectrum, which must stream every decoder weight
once. Models have random weights: speed does not depend on training. On a shared machine take
the best of several repeats (``best``), which is what the hardware allows; the median shows
the noise. The limits are measured before, between and after the presets, and the best of
them is used.

Each backend runs in its own process (``KERAS_BACKEND`` is fixed at import); the table puts
them side by side. Backends that are not installed are left out.

    python benchmarks/generation.py                   # both presets, every installed backend
    python benchmarks/generation.py --presets demo --no-training --backends jax
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SUN = {"teff": 5800.0, "logg": 4.4, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000.0}
BACKENDS = ("tensorflow", "jax")


def timings(call, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """(best, median) wall time of ``call()`` in seconds."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


MATMUL_SHAPES = ((2048, 2048, 2048), (1024, 4000, 19000))
"""(m, k, n) of the rate measurements: a square matmul, and the paper decoder's largest layer."""


def matmul_rate(repeats: int = 10) -> float:
    """Best float32 matmul rate of the current backend in GFLOP/s over :data:`MATMUL_SHAPES`."""
    import keras
    from keras import ops

    rates = []
    for m, k, n in MATMUL_SHAPES:
        a, b = keras.random.normal((m, k)), keras.random.normal((k, n))
        best, _ = timings(lambda a=a, b=b: ops.convert_to_numpy(ops.matmul(a, b)), repeats)
        rates.append(2 * m * k * n / best / 1e9)
    return max(rates)


def read_bandwidth(megabytes: int = 512, repeats: int = 10) -> float:
    """Best memory read rate in GB/s (a sum over a float32 array larger than any cache)."""
    import keras
    from keras import ops

    x = keras.random.normal((megabytes * 2**18,))
    best, _ = timings(lambda: ops.convert_to_numpy(ops.sum(x)), repeats)
    return x.shape[0] * 4 / best / 1e9


def kernel_macs(model) -> int:
    """Multiply-adds per spectrum of a stack of Dense layers (the kernels' sizes)."""
    return int(sum(np.prod(w.shape) for w in model.weights if len(w.shape) == 2))


def bench_preset(preset: str, args, wavelength: np.ndarray) -> list[dict]:
    """Time one preset under the current backend: one dict per row."""
    import keras

    from spectral_cvae.model import CVAE, CVAEConfig, SpectrumGenerator
    from spectral_cvae.parameters import PAPER_SPACE

    config = CVAEConfig.preset(preset)
    metadata = {"wavelength": wavelength.tolist(), "space": PAPER_SPACE.to_dict()}
    model = CVAE(config, len(wavelength), len(PAPER_SPACE), seed=0, metadata=metadata)
    generator = SpectrumGenerator(model)
    decoder_macs = kernel_macs(model.decoder)
    weight_bytes = 4 * model.decoder.count_params()
    rng = np.random.default_rng(0)
    rows = []

    def row(what, batch, best, median, flops=0, bytes_read=0):
        rows.append(
            {"preset": preset, "what": what, "batch": batch, "best": best, "median": median}
            | {"flops": flops, "bytes": bytes_read}
        )

    for batch in args.batches:
        z = rng.standard_normal((batch, config.latent_dim), dtype=np.float32)
        condition = rng.random((batch, 6), dtype=np.float32)
        best, median = timings(lambda z=z, c=condition: generator.decode(z, c), args.repeats)
        row("decoder (predict_on_batch)", batch, best, median, 2 * decoder_macs * batch, weight_bytes)
    best, median = timings(lambda: generator.generate(SUN), max(args.repeats, 30))
    row("generate(one point)", 1, best, median, 0, weight_bytes)
    if not args.no_training:
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        flux = rng.random((512, len(wavelength)), dtype=np.float32)
        condition = rng.random((512, 6), dtype=np.float32)
        best, median = timings(
            lambda: model.train_on_batch([flux, condition], flux),
            max(2, args.repeats // 3),
            warmup=1,
        )
        # Forward, then backward for activations and weights: about three matmuls per layer.
        macs = kernel_macs(model.encoder) + decoder_macs
        row("training step (Adam)", 512, best, median, 3 * 2 * macs * 512)
    return rows


def measure(args) -> dict:
    """Every row and the machine's limits, under the backend this process runs."""
    import keras

    from spectral_cvae.grid import paper_wavelength

    wavelength = paper_wavelength()
    rows = []
    limits = [(matmul_rate(), read_bandwidth())]
    for preset in args.presets:
        rows += bench_preset(preset, args, wavelength)
        limits.append((matmul_rate(), read_bandwidth()))
    return {"backend": keras.backend.backend(), "rows": rows, "limits": limits}


def run_backend(backend: str, args) -> dict:
    """Run :func:`measure` in a process of its own with ``KERAS_BACKEND=backend``."""
    command = [sys.executable, __file__, "--single", "--presets", *args.presets]
    command += ["--batches", *map(str, args.batches), "--repeats", str(args.repeats)]
    command += ["--no-training"] if args.no_training else []
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{backend} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict]) -> None:
    """Print the limits of each backend and one table with the backends side by side."""
    for result in results:
        # On a shared machine the limits drift: the best of the measurements around the
        # rows is the machine's capability, so ratios are, if anything, underestimated.
        rates, bandwidths = zip(*result["limits"])
        result["peak"], result["bandwidth"] = max(rates), max(bandwidths)
        print(
            f"{result['backend']}: float32 matmul rate (best of 2048^3 and 1024x4000x19000; "
            f"measured before, between and after) "
            + ", ".join(f"{r:.1f}" for r in rates)
            + f" GFLOP/s -> {result['peak']:.1f}; memory read bandwidth (512 MB sum) "
            + ", ".join(f"{r:.1f}" for r in bandwidths)
            + f" GB/s -> {result['bandwidth']:.1f}"
        )
    print()
    names = [r["backend"] for r in results]
    print(
        "| preset | what | batch | "
        + " | ".join(f"{n}: best | {n}: median | {n}: spectra/s | {n}: of limit" for n in names)
        + " |"
    )
    print("|---|---|---|" + "---|---|---|---|" * len(names))
    for k, first in enumerate(results[0]["rows"]):
        cells = [first["preset"], first["what"], str(first["batch"])]
        for result in results:
            row = result["rows"][k]
            best = row["best"]
            if row["flops"] and row["batch"] > 1:  # compute-bound: against the matmul rate
                limit = f"{row['flops'] / best / 1e9 / result['peak']:.0%} of matmul"
            else:  # one spectrum: against streaming the decoder's weights once
                limit = f"{row['bytes'] / best / 1e9 / result['bandwidth']:.0%} of bandwidth"
            cells += [
                f"{best * 1e3:.2f} ms",
                f"{row['median'] * 1e3:.2f} ms",
                f"{row['batch'] / best:,.0f}",
                limit,
            ]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["paper", "demo"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-training", action="store_true", help="skip the training step")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=[b for b in BACKENDS if importlib.util.find_spec(b) is not None],
        help="Keras backends to compare (default: those installed)",
    )
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:  # one backend, this process: print its measurements as JSON
        print(json.dumps(measure(args)))
        return
    report([run_backend(backend, args) for backend in args.backends])


if __name__ == "__main__":
    main()
