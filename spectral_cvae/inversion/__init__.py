"""Stellar parameters from spectra: the paper's PCA inverter (its section 4.1, Table 2)."""

from .inverter import PAPER_HIDDEN, NotFittedError, PCAInverter
from .pca import PCABasis, fit_pca

__all__ = ["PAPER_HIDDEN", "NotFittedError", "PCABasis", "PCAInverter", "fit_pca"]
