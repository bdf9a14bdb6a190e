"""The conditional VAE: configuration, training, saved models and spectrum generation.

>>> from spectral_cvae.model import CVAEConfig, SpectrumGenerator, train  # doctest: +SKIP
>>> generator = train("grid.h5", CVAEConfig.preset("demo"), out="model.keras")
>>> generator = SpectrumGenerator.load("model.keras")
>>> flux = generator.generate({"teff": 5800, "logg": 4.4, "vsini": 2, "mh": 0, "vmic": 1,
...                            "resolution": 50000})     # (1, n_pixels)
"""

from .config import PRESETS, CVAEConfig
from .cvae import CVAE, Sampling
from .generator import ExtrapolationWarning, GenerationResult, SpectrumGenerator
from .physics import PhysicsConfig, PhysicsCVAE
from .physics_training import load_base_grids, train_physics
from .training import TimeLimit, train

__all__ = [
    "CVAE",
    "CVAEConfig",
    "ExtrapolationWarning",
    "GenerationResult",
    "PRESETS",
    "PhysicsCVAE",
    "PhysicsConfig",
    "Sampling",
    "TimeLimit",
    "SpectrumGenerator",
    "load_base_grids",
    "train",
    "train_physics",
]
