"""Speed of the CVAE: generation throughput and latency, and one training step.

Every number is printed next to what this machine can do at most, measured in the same run:
the float32 matrix-multiply rate (GFLOP/s through TensorFlow, the best of a square matmul and
the paper decoder's largest layer alone) for the batched, compute-bound cases, and the memory
read bandwidth (GB/s) for a single spectrum, which must stream every decoder weight once. Models have random weights: speed does not
depend on training. On a shared machine take the best of several repeats (``best``), which
is what the hardware allows; the median shows the noise. The limits are measured before,
between and after the presets, and the best of them is used.

    python benchmarks/generation.py                   # both presets, 19,000 pixels
    python benchmarks/generation.py --presets demo --no-training
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

from spectral_cvae.grid import paper_wavelength
from spectral_cvae.model import CVAE, CVAEConfig, SpectrumGenerator
from spectral_cvae.parameters import PAPER_SPACE

SUN = {"teff": 5800.0, "logg": 4.4, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000.0}


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
    """Best float32 matmul rate in GFLOP/s over :data:`MATMUL_SHAPES`."""
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    rates = []
    for m, k, n in MATMUL_SHAPES:
        a, b = tf.random.normal((m, k)), tf.random.normal((k, n))
        best, _ = timings(lambda a=a, b=b: matmul(a, b).numpy(), repeats)
        rates.append(2 * m * k * n / best / 1e9)
    return max(rates)


def read_bandwidth(megabytes: int = 512, repeats: int = 10) -> float:
    """Best memory read rate in GB/s (a sum over a float32 array larger than any cache)."""
    x = tf.random.normal((megabytes * 2**18,))
    total = tf.function(tf.reduce_sum)
    best, _ = timings(lambda: total(x).numpy(), repeats)
    return x.shape[0] * 4 / best / 1e9


def kernel_macs(model) -> int:
    """Multiply-adds per spectrum of a stack of Dense layers (the kernels' sizes)."""
    return int(sum(np.prod(w.shape) for w in model.weights if len(w.shape) == 2))


def make_generator(config: CVAEConfig, wavelength: np.ndarray) -> SpectrumGenerator:
    metadata = {"wavelength": wavelength.tolist(), "space": PAPER_SPACE.to_dict()}
    model = CVAE(config, len(wavelength), len(PAPER_SPACE), seed=0, metadata=metadata)
    return SpectrumGenerator(model)


def bench_preset(preset: str, args, wavelength: np.ndarray) -> list[tuple]:
    """Time one preset: rows of (preset, what, batch, best s, median s, FLOP, weight bytes)."""
    config = CVAEConfig.preset(preset)
    generator = make_generator(config, wavelength)
    decoder_macs = kernel_macs(generator.model.decoder)
    weight_bytes = 4 * generator.model.decoder.count_params()
    rng = np.random.default_rng(0)
    rows = []
    for batch in args.batches:
        z = tf.constant(rng.standard_normal((batch, config.latent_dim)), tf.float32)
        condition = tf.constant(rng.random((batch, 6)), tf.float32)
        best, median = timings(
            lambda z=z, c=condition: generator._decode(z, c).numpy(), args.repeats
        )
        rows.append(
            (
                preset,
                "decoder tf.function",
                batch,
                best,
                median,
                2 * decoder_macs * batch,
                weight_bytes,
            )
        )
    best, median = timings(lambda: generator.generate(SUN), max(args.repeats, 30))
    rows.append((preset, "generate(one point), public API", 1, best, median, 0, weight_bytes))
    if args.no_training:
        return rows
    import keras

    model = generator.model
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    flux = rng.random((512, len(wavelength)), dtype=np.float32)
    condition = rng.random((512, 6), dtype=np.float32)
    best, median = timings(
        lambda: model.train_on_batch(flux, condition), max(2, args.repeats // 3), warmup=1
    )
    # Forward, then backward for activations and weights: about three matmuls per layer.
    macs = kernel_macs(model.encoder) + decoder_macs
    rows.append((preset, "training step (Adam)", 512, best, median, 3 * 2 * macs * 512, 0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["paper", "demo"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-training", action="store_true", help="skip the training step")
    args = parser.parse_args()

    wavelength = paper_wavelength()
    print(f"threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}")
    rows = []
    limits = [(matmul_rate(), read_bandwidth())]
    for preset in args.presets:
        rows += bench_preset(preset, args, wavelength)
        limits.append((matmul_rate(), read_bandwidth()))
    # On a shared machine the limits drift: the best of the measurements around the rows is
    # the machine's capability, so ratios are, if anything, underestimated.
    peak = max(rate for rate, _ in limits)
    bandwidth = max(rate for _, rate in limits)
    print(
        "float32 matmul rate (best of 2048^3 and 1024x4000x19000; "
        + "measured before, between and after): "
        + ", ".join(f"{rate:.1f}" for rate, _ in limits)
        + f" GFLOP/s -> {peak:.1f}"
    )
    print(
        "memory read bandwidth (512 MB sum, best): "
        + ", ".join(f"{rate:.1f}" for _, rate in limits)
        + f" GB/s -> {bandwidth:.1f}"
    )
    print()
    print(
        "| preset | what | batch | best | median | spectra/s (best) | GFLOP/s | of matmul rate "
        "| GB/s of weights | of bandwidth |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset, what, batch, best, median, flops, weight_bytes in rows:
        gflops = flops / best / 1e9 if flops else None
        gbs = weight_bytes / best / 1e9 if weight_bytes else None
        print(
            f"| {preset} | {what} | {batch} | {best * 1e3:.2f} ms | {median * 1e3:.2f} ms "
            f"| {batch / best:,.0f} "
            + (f"| {gflops:.1f} | {gflops / peak:.0%} " if gflops else "| | ")
            + (f"| {gbs:.1f} | {gbs / bandwidth:.0%} |" if gbs else "| | |")
        )


if __name__ == "__main__":
    main()
