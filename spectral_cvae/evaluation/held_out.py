"""Which spectra a model may be tested on: stars it never saw.

A model records its split and the keys of its training base models
(:mod:`spectral_cvae.provenance`). :func:`held_out_split` picks the split to test on (by default
the model's own, when the grid is the one it was trained on; the whole grid otherwise) and
refuses a test set holding base models the model trained on, saying how many, unless a leaky
measurement is asked for on purpose.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..grid.groups import base_model_keys
from ..grid.physics import check_same_physics
from ..grid.splits import BY_BASE_MODEL, GridSplit
from ..grid.store import SpectralGrid
from ..provenance import recorded_split, recorded_training_keys, same_grid


class SeenBaseModelsError(InputError):
    """A test set that holds base models (stars) the model was trained on."""


def seen_in_training(provenance: dict, grid: SpectralGrid, rows: np.ndarray) -> dict | None:
    """How many of ``rows`` belong to base models the model trained or validated on.

    Returns
    -------
    dict or None
        ``{"test_spectra": m, "base_models": k}``; None when the model did not record its
        training base models (nothing can be checked).
    """
    seen = recorded_training_keys(provenance)
    if seen is None:
        return None
    keys = base_model_keys(grid.parameters[np.asarray(rows)], grid.space)
    shared = np.isin(keys, seen)
    return {"test_spectra": int(shared.sum()), "base_models": int(np.unique(keys[shared]).size)}


def held_out_split(
    generator: object,
    grid: SpectralGrid,
    split: GridSplit | None = None,
    allow_seen_base_models: bool = False,
    allow_other_physics: bool = False,
) -> tuple[GridSplit, dict]:
    """The split to test ``generator`` on, checked against its training base models.

    Parameters
    ----------
    generator
        A generator; its ``provenance`` (if any) holds the recorded split and training keys.
    grid
        The grid to test on.
    split
        A split to use instead of the model's own.
    allow_seen_base_models
        Test on base models seen in training anyway (to measure a leaky split on purpose);
        the returned description says how many were seen.
    allow_other_physics
        Test on a grid whose recorded physics differs from the training grid's.

    Returns
    -------
    split : GridSplit
        The model's own split when ``grid`` is its training grid; a split with every row
        in ``test`` when ``grid`` is another grid (a held-out set); ``grid.split()`` for
        models that recorded nothing.
    description : dict
        ``origin`` (where the split came from), ``by``, ``seen`` (see
        :func:`seen_in_training`) and ``checked``.

    Raises
    ------
    SeenBaseModelsError
        If test spectra belong to base models seen in training, naming how many.
    GridInputError
        If the split was drawn for another grid, or the grid's physics differs from the
        training grid's (see :mod:`spectral_cvae.grid.physics`).
    """
    provenance = dict(getattr(generator, "provenance", None) or {})
    if "grid_provenance" in provenance and not allow_other_physics:
        check_same_physics(
            {
                "the model's training grid": provenance["grid_provenance"],
                str(grid.path or "the test grid"): grid.provenance,
            },
            "cannot test a model on a grid of other physics than it was trained on",
        )
    if split is not None:
        origin = "given"
        split.check_grid_size(grid.n_spectra)
    elif (recorded := recorded_split(provenance)) is not None and same_grid(provenance, grid):
        split, origin = recorded, "the model's own split"
    elif recorded_training_keys(provenance) is not None:
        empty = np.array([], dtype=np.int64)
        split = GridSplit(
            empty, empty, np.arange(grid.n_spectra), grid.n_spectra, seed=0, by=BY_BASE_MODEL
        )
        origin = "every spectrum of a grid the model was not trained on"
    else:
        split, origin = grid.split(), "grid.split() (the model recorded no split)"
    seen = seen_in_training(provenance, grid, split.test)
    if seen and seen["test_spectra"] and not allow_seen_base_models:
        source = str(grid.path) if grid.path else "the grid"
        raise SeenBaseModelsError(
            f"{source}: {seen['test_spectra']} of {len(split.test)} test spectra "
            f"({seen['base_models']} base models) are stars the model was trained on; test "
            f"on the model's own split, on unseen stars (spectral_cvae.grid.unseen_stars), or "
            f"allow seen base models to measure a leaky split on purpose"
        )
    return split, {
        "origin": origin,
        "by": split.by,
        "checked": seen is not None,
        "seen": seen,
    }


__all__ = ["SeenBaseModelsError", "seen_in_training", "held_out_split"]
