"""Seeding a Keras training run without changing the caller's random generators.

Our own draws (splits, shuffles, PCA starts, noise) use local generators
(``numpy.random.default_rng(seed)``). Keras does not: the default seeds of unseeded weight
initializers come from Python's :mod:`random`, and ``fit(..., shuffle=True)`` on arrays shuffles
with TensorFlow's global seed (TensorFlow backend) or NumPy's global generator (JAX and torch).
:func:`keras.utils.set_random_seed` is the one call that seeds all of them, so a training run
makes it, and :func:`keras_seeded` gives Python and NumPy their generators back afterwards.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np


@contextlib.contextmanager
def keras_seeded(seed: int) -> Iterator[None]:
    """Seed Keras for one training run; restore Python's and NumPy's global generators after.

    Inside the block :func:`keras.utils.set_random_seed` has seeded Python's :mod:`random`,
    ``numpy.random``, the backend (TensorFlow, torch) and Keras's own global seed generator,
    so weights and shuffles are reproducible. On exit, normal or by an exception, the states
    of :mod:`random` and ``numpy.random`` are put back as they were on entry: a caller's own
    draws continue as if the run had not happened. The backend's and Keras's global seeds
    stay set, as only Keras code uses them.

    Parameters
    ----------
    seed
        Seed of the run (an int, as Keras requires).

    Notes
    -----
    The global generators are process-wide: while the block runs (e.g. in a background
    training thread) other threads drawing from ``numpy.random`` or :mod:`random` see the
    seeded state. Code of this package never draws from them.
    """
    import keras

    # The legacy global generator is the one being protected: its state is what is saved.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        keras.utils.set_random_seed(int(seed))
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002


__all__ = ["keras_seeded"]
