"""A fair speed ratio: CPU seconds of a SYNSPEC synthesis against one generated spectrum.

Both sides are measured as CPU time (every thread of this process, plus SYNSPEC's own
process), on the same machine under the same load, so the ratio does not depend on how many
cores each side happened to use::

    python benchmarks/speed_ratio.py

SYNSPEC (needs ``spectral-cvae synspec install``) computes a cool giant, the Sun and a hot
dwarf over the base-grid window (4440-5410 A at 0.02 A; the line list is converted once and
cached before timing, as in a grid build). The generators are the ``paper`` and ``demo``
presets of the six-parameter CVAE and the physics-aware CVAE (untrained: the weights' values
do not change the time), one spectrum per call and in batches of ``--batch``, each on the
paper's 19,000 pixels, broadening included.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

STARS = {
    "cool giant (4000 K, 2.0, -1.5)": (4000.0, 2.0, -1.5, 1.0),
    "Sun (5777 K, 4.44, 0.0)": (5777.0, 4.44, 0.0, 1.0),
    "hot dwarf (11000 K, 5.0, 0.0)": (11000.0, 5.0, 0.0, 1.0),
}


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (SYNSPEC)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def synspec_seconds() -> dict[str, float]:
    """CPU seconds of one base-model synthesis per star (line list already cached)."""
    from spectral_cvae.grid.synthesis.run import synthesize
    from spectral_cvae.grid.wavelength import BASE_STEP, MARGIN, PAPER_WINDOW

    window = (PAPER_WINDOW[0] - MARGIN, PAPER_WINDOW[1] + MARGIN)
    synthesize(5777.0, 4.44, 0.0, 1.0, (5000.0, 5010.0), BASE_STEP)  # caches the line list
    seconds = {}
    for name, star in STARS.items():
        before = cpu_seconds()
        synthesize(*star, window, BASE_STEP)
        seconds[name] = cpu_seconds() - before
    return seconds


def generator_seconds(generator, batch: int, repeats: int) -> tuple[float, float]:
    """Median CPU seconds for one spectrum per call, and per spectrum in batches."""
    rng = np.random.default_rng(0)
    space = generator.space
    points = rng.uniform(space.minimum, space.maximum, (batch, len(space)))
    generator.generate(points[:1]), generator.generate(points)  # compile both shapes

    def median(call) -> float:
        times = []
        for _ in range(repeats):
            before = cpu_seconds()
            call()
            times.append(cpu_seconds() - before)
        return float(np.median(times))

    single = median(lambda: generator.generate(points[:1]))
    batched = median(lambda: generator.generate(points)) / batch
    return single, batched


def generators() -> dict:
    """The untrained generators to time, by name."""
    from spectral_cvae.grid import paper_wavelength
    from spectral_cvae.model import CVAE, CVAEConfig, PhysicsConfig, PhysicsCVAE
    from spectral_cvae.model.generator import SpectrumGenerator
    from spectral_cvae.parameters import PAPER_SPACE

    metadata = {"wavelength": paper_wavelength().tolist(), "space": PAPER_SPACE.to_dict()}
    made = {}
    for preset in ("paper", "demo"):
        model = CVAE(CVAEConfig.preset(preset), 19000, 6, seed=0, metadata=metadata)
        model.build_all()
        made[f"six-parameter CVAE, {preset} preset"] = SpectrumGenerator(model)
    physics = PhysicsCVAE(PhysicsConfig.preset("physics"), 19000, 6, seed=0, metadata=metadata)
    physics.build_all()
    made["physics-aware CVAE (broadening included)"] = SpectrumGenerator(physics)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-synspec", action="store_true", help="time only the generators")
    args = parser.parse_args()
    synthesis = {} if args.no_synspec else synspec_seconds()
    for name, seconds in synthesis.items():
        print(f"SYNSPEC {name:34s} {seconds:8.2f} CPU s per base model")
    reference = float(np.median(list(synthesis.values()))) if synthesis else None
    print(
        f"{'generator':44s} {'1 per call':>12s} {f'batch {args.batch}':>14s}"
        + ("  speed-up vs median SYNSPEC (1 / batched)" if reference else "")
    )
    for name, generator in generators().items():
        single, batched = generator_seconds(generator, args.batch, args.repeats)
        line = f"{name:44s} {single * 1e3:9.2f} ms {batched * 1e3:11.3f} ms"
        if reference:
            line += f"  {reference / single:8.0f}x / {reference / batched:8.0f}x"
        print(line)


if __name__ == "__main__":
    main()
