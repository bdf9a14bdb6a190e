"""Reproducible train / validation / test splits of a grid, by base model.

The paper tests on 10^4 spectra never seen in training. Rows of one base model (one star,
broadened to several v sin i and R) are the same star: a split puts every row of a base model
in one subset, so the test spectra are stars the network never saw. A split is drawn once
from a seed, saved as JSON beside the grid and stored in every model trained on it, so every
later step (training, inversion, evaluation) uses exactly the same held-out stars.

A split by row (:meth:`GridSplit.make_leaky_by_row`) stays available for comparison: on a
grid with several rows per base model it leaks, and says so in its ``by`` field.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GridFileError, GridInputError, where
from ..files import atomic_path

BY_BASE_MODEL = "base_model"
"""A split in which no base model has rows in two subsets."""
BY_ROW_LEAKY = "row (leaky)"
"""A split of rows at random: rows of one base model can be in training and test."""
PARTS = ("train", "validation", "test")


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
    by
        :data:`BY_BASE_MODEL` (no base model in two subsets) or :data:`BY_ROW_LEAKY`.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    n_spectra: int
    seed: int
    by: str = BY_BASE_MODEL

    @classmethod
    def make(
        cls,
        n_spectra: int,
        test: float = 0.1,
        validation: float = 0.1,
        seed: int = 0,
        base_model: np.ndarray | None = None,
    ) -> GridSplit:
        """Draw a split that keeps every base model in one subset.

        Parameters
        ----------
        n_spectra
            Number of spectra in the grid.
        test, validation
            Sizes: a fraction (below 1) of the base models, or a number (>= 1) of spectra
            (the paper uses ``test=10_000``), filled with whole base models in random order
            until reached. The rest is for training.
        seed
            Seed of NumPy's PCG64 generator; the same seed gives the same split.
        base_model
            Base-model index of each row, shape ``(n_spectra,)``; None: every row is its
            own base model (a grid of unbroadened base spectra).
        """
        groups = np.arange(n_spectra) if base_model is None else np.asarray(base_model, np.int64)
        if groups.shape != (n_spectra,):
            raise GridInputError(f"base_model has shape {groups.shape}; expected ({n_spectra},)")
        models, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        order = np.random.default_rng(seed).permutation(len(models))
        # Rows of each model in the drawn order: cumulative counts turn spectrum sizes
        # into numbers of whole models.
        cumulative = np.cumsum(counts[order])

        def n_models(size: float, name: str, offset: int) -> int:
            if size < 1:
                return _count(size, len(models), name)
            wanted = _count(size, n_spectra, name)
            before = cumulative[offset - 1] if offset else 0
            return int(np.searchsorted(cumulative, before + wanted, side="left")) + 1 - offset

        n_test = n_models(test, "test", 0) if test else 0
        n_val = n_models(validation, "validation", n_test) if validation else 0
        if n_test + n_val >= len(models):
            raise GridInputError(
                f"test ({n_test}) + validation ({n_val}) base models leave nothing to train "
                f"on in a grid of {len(models)} base models ({n_spectra} spectra)"
            )
        part = np.zeros(len(models), dtype=np.int8)
        part[order[:n_test]] = 2
        part[order[n_test : n_test + n_val]] = 1
        row_part = part[np.asarray(inverse).reshape(-1)]
        return cls(
            train=np.flatnonzero(row_part == 0),
            validation=np.flatnonzero(row_part == 1),
            test=np.flatnonzero(row_part == 2),
            n_spectra=n_spectra,
            seed=seed,
            by=BY_BASE_MODEL,
        )

    @classmethod
    def make_leaky_by_row(
        cls, n_spectra: int, test: float = 0.1, validation: float = 0.1, seed: int = 0
    ) -> GridSplit:
        """Draw a split of rows at random, ignoring base models.

        On a grid with several (v sin i, R) draws per base model this *leaks*: the test
        set holds stars whose other broadenings were trained on, so its residuals measure
        interpolation in v sin i and R, not unseen stars. Kept to show the difference.
        Sizes are fractions or numbers of spectra, as in :meth:`make`.
        """
        split = cls.make(n_spectra, test=test, validation=validation, seed=seed)
        return cls(split.train, split.validation, split.test, n_spectra, seed, BY_ROW_LEAKY)

    def overlapping_base_models(self, base_model: np.ndarray) -> dict[str, int]:
        """Base models that have rows in more than one subset.

        Returns
        -------
        dict
            ``{"base_models": k, "test_spectra": m}``: how many base models are shared and
            how many test spectra belong to one also in training or validation.
        """
        groups = np.asarray(base_model)
        seen = np.union1d(groups[self.train], groups[self.validation])
        shared_test = np.isin(groups[self.test], seen)
        shared = (
            np.intersect1d(groups[self.train], groups[self.validation]).size
            + np.unique(groups[self.test][shared_test]).size
        )
        return {"base_models": int(shared), "test_spectra": int(shared_test.sum())}

    def sizes(self) -> dict[str, int]:
        """Number of spectra in each part."""
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }

    def to_dict(self) -> dict:
        """A compact JSON-ready form, stored in the models trained on this split.

        The subsets are one byte per row (0 unused, 1 train, 2 validation, 3 test),
        zlib-compressed and base64-encoded: a few kB even for 10^5 spectra.
        """
        assignment = np.zeros(self.n_spectra, dtype=np.uint8)
        for code, part in enumerate(PARTS, start=1):
            assignment[getattr(self, part)] = code
        return {
            "by": self.by,
            "seed": int(self.seed),
            "n_spectra": int(self.n_spectra),
            **self.sizes(),
            "assignment": base64.b64encode(zlib.compress(assignment.tobytes(), 9)).decode(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> GridSplit:
        """Rebuild a split from :meth:`to_dict` output."""
        try:
            raw = zlib.decompress(base64.b64decode(data["assignment"]))
            assignment = np.frombuffer(raw, dtype=np.uint8)
            n_spectra = int(data["n_spectra"])
            if assignment.size != n_spectra:
                raise ValueError(f"{assignment.size} rows recorded for {n_spectra} spectra")
            parts = {
                part: np.flatnonzero(assignment == code) for code, part in enumerate(PARTS, start=1)
            }
            return cls(**parts, n_spectra=n_spectra, seed=int(data["seed"]), by=str(data["by"]))
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise GridInputError(f"not a recorded split ({exc})") from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write the split as JSON, atomically."""
        data = {
            "n_spectra": self.n_spectra,
            "seed": self.seed,
            "by": self.by,
            **{part: getattr(self, part).tolist() for part in PARTS},
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
                **{part: np.asarray(data[part], dtype=np.int64) for part in PARTS},
                n_spectra=int(data["n_spectra"]),
                seed=int(data["seed"]),
                # Files written before splits knew base models were row splits.
                by=str(data.get("by", BY_ROW_LEAKY)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GridFileError(f"{path}: not a readable split file ({exc})") from exc
        if n_spectra is not None:
            split.check_grid_size(n_spectra, str(path))
        return split

    def check_grid_size(self, n_spectra: int, source: str | None = None) -> None:
        """Refuse to split a grid of another size than the one the split was drawn for.

        Raises
        ------
        GridInputError
            If ``n_spectra`` differs from :attr:`n_spectra`.
        """
        if n_spectra != self.n_spectra:
            raise GridInputError(
                f"{where(source)}split drawn for {self.n_spectra} spectra, but the grid has "
                f"{n_spectra}"
            )
