"""Speed of the Keras broadening layer: base spectra on the log grid to the paper's 19,000 pixels.

Times ``model.predict_on_batch`` of a functional model holding only the layer, for batch 1 and
256 after a warm-up call, with v sin i and R drawn over the paper's ranges; once as Keras
compiles it by default (a tf.function under TensorFlow, jit under JAX) and once compiled with
``jit_compile=True`` (XLA, which fuses the elementwise work of the transfer functions). Prints
spectra per second.

    python benchmarks/broadening_layers.py [--repeats 5]
    KERAS_BACKEND=jax python benchmarks/broadening_layers.py
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np

from spectral_cvae.model.broadening_layers import Broadening


def model_of(layer: Broadening) -> keras.Model:
    flux = keras.Input((layer.log_wavelength.size,))
    vsini = keras.Input((1,))
    resolution = keras.Input((1,))
    return keras.Model([flux, vsini, resolution], layer(flux, vsini, resolution))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    args = parser.parse_args()
    layer = Broadening()
    rng = np.random.default_rng(0)
    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs: base grid "
        f"{layer.log_wavelength.size} pixels (FFT length {layer.n_fft}) -> "
        f"{layer.wavelength_out.size} pixels"
    )
    for jit_compile in (None, True):
        model = model_of(layer)
        if jit_compile:
            model.compile(jit_compile=True)
        print(f" {'jit_compile=True' if jit_compile else 'default compilation'}")
        for batch in args.batches:
            flux = (1.0 - 0.5 * rng.random((batch, layer.log_wavelength.size)) ** 20).astype(
                "float32"
            )
            vsini = rng.uniform(0.0, 300.0, (batch, 1)).astype("float32")
            resolution = rng.uniform(1000.0, 115000.0, (batch, 1)).astype("float32")
            inputs = [flux, vsini, resolution]
            start = time.perf_counter()
            model.predict_on_batch(inputs)
            first = time.perf_counter() - start
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.predict_on_batch(inputs)
                times.append(time.perf_counter() - start)
            best = min(times)
            print(
                f"  batch {batch:4d}: {batch / best:9.1f} spectra/s "
                f"(best of {args.repeats}: {1e3 * best:8.1f} ms per batch; first call "
                f"{1e3 * first:.0f} ms with compilation)"
            )


if __name__ == "__main__":
    main()
