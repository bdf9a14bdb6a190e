"""Reproducible train / validation / test splits of a grid.

The paper tests on 10^4 spectra never seen in training. A split is drawn once from a seed and
saved as JSON beside the grid, so every later step (training, inversion, evaluation) uses
exactly the same held-out spectra.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GridFileError, GridInputError
from ..files import atomic_path


def _count(size: float, n: int, name: str) -> int:
    """A split size given as a fraction (< 1) or a number of spectra (>= 1)."""
    if size < 0:
        raise GridInputError(f"{name} size must not be negative, got {size}")
    count = int(round(size * n)) if size < 1 else int(size)
    if size >= 1 and size != int(size):
        raise GridInputError(f"{name} size {size} is neither a fraction below 1 nor a count")
    return count


@dataclass(frozen=True)
class GridSplit:
    """Indices of the training, validation and test spectra of one grid.

    Attributes
    ----------
    train, validation, test
        Sorted, disjoint row indices that together cover ``range(n_spectra)``.
    n_spectra
        Size of the grid the split was drawn for.
    seed
        Seed of the draw.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    n_spectra: int
    seed: int

    @classmethod
    def make(
        cls, n_spectra: int, test: float = 0.1, validation: float = 0.1, seed: int = 0
    ) -> GridSplit:
        """Draw a split.

        Parameters
        ----------
        n_spectra
            Number of spectra in the grid.
        test, validation
            Sizes: a fraction of the grid if below 1, else a number of spectra
            (the paper uses ``test=10_000``). The rest is for training.
        seed
            Seed of NumPy's PCG64 generator; the same seed gives the same split.
        """
        n_test = _count(test, n_spectra, "test")
        n_val = _count(validation, n_spectra, "validation")
        if n_test + n_val >= n_spectra:
            raise GridInputError(
                f"test ({n_test}) + validation ({n_val}) spectra leave nothing to train on "
                f"in a grid of {n_spectra}"
            )
        order = np.random.default_rng(seed).permutation(n_spectra)
        return cls(
            train=np.sort(order[n_test + n_val :]),
            validation=np.sort(order[n_test : n_test + n_val]),
            test=np.sort(order[:n_test]),
            n_spectra=n_spectra,
            seed=seed,
        )

    def sizes(self) -> dict[str, int]:
        """Number of spectra in each part."""
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the split as JSON, atomically."""
        data = {
            "n_spectra": self.n_spectra,
            "seed": self.seed,
            **{part: getattr(self, part).tolist() for part in ("train", "validation", "test")},
        }
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(data))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, n_spectra: int | None = None) -> GridSplit:
        """Read a split written by :meth:`save`.

        Parameters
        ----------
        path
            The JSON file.
        n_spectra
            If given, the size of the grid it will be used with; a split drawn for another
            grid is refused.
        """
        try:
            data = json.loads(Path(path).read_text())
            split = cls(
                **{
                    part: np.asarray(data[part], dtype=np.int64)
                    for part in ("train", "validation", "test")
                },
                n_spectra=int(data["n_spectra"]),
                seed=int(data["seed"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GridFileError(f"{path}: not a readable split file ({exc})") from exc
        if n_spectra is not None and n_spectra != split.n_spectra:
            raise GridInputError(
                f"{path}: split drawn for {split.n_spectra} spectra, but the grid has {n_spectra}"
            )
        return split
