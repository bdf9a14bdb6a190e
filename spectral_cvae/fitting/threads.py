"""One BLAS thread while a fit runs.

The fit's linear algebra works on tall, thin matrices (pixels x a handful of fitted
quantities): an SVD of 14,000 x 7 takes ~1.5 ms on one thread. OpenBLAS nevertheless spreads
such calls over all cores, and its idle threads then spin, taking the cores the generator's
own (TensorFlow) threads need. On a 2-core machine shared with other work that made the same
SVD take 20-45 ms and a whole fit about twice as long in wall time and CPU time, for nothing.

NumPy's and SciPy's wheels each carry their own OpenBLAS; :func:`single_blas_thread` sets
both to one thread and restores their counts afterwards. The setting is process-wide: BLAS
calls of other threads during a fit (e.g. a notebook's, while the fit panel fits in the
background) run on one thread too. Where a library is not found (another BLAS, another build)
it is left alone: only speed depends on it, never results beyond rounding.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy

SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)
"""(get, set) function names of the OpenBLAS builds NumPy and SciPy wheels ship, tried in order."""


@functools.cache
def _controls() -> list[tuple[object, object]]:
    """(get, set) thread-count functions of each OpenBLAS shipped beside NumPy and SciPy."""
    found = []
    for package in (np, scipy):
        folder = Path(package.__file__).parent.parent / f"{package.__name__}.libs"
        for path in sorted(folder.glob("*openblas*")):
            library = ctypes.CDLL(str(path))
            for get, put in SYMBOLS:
                if hasattr(library, get) and hasattr(library, put):
                    found.append((getattr(library, get), getattr(library, put)))
                    break
    return found


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with NumPy's and SciPy's OpenBLAS on one thread each, then restore."""
    controls = _controls()
    before = [get() for get, _ in controls]
    for _, put in controls:
        put(1)
    try:
        yield
    finally:
        for (_, put), count in zip(controls, before):
            put(count)
