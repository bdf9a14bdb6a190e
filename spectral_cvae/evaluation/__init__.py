"""Evaluation of a generator as in the paper (its section 4): residual statistics on the test
spectra, heat maps and marginals over parameter space, the inverter's accuracy table, speed,
and a report that puts our numbers beside the paper's."""

from .accuracy import SIGNAL_TO_NOISE, inverter_accuracy, parameter_errors
from .maps import HeatMap, Marginal, heat_map, marginals
from .report import PAPER, evaluate_model
from .residuals import (
    QUANTILES,
    ResidualAccumulator,
    ResidualStatistics,
    check_compatible,
    residual_statistics,
)
from .speed import speed_report, time_generation, time_synthesis

__all__ = [
    "PAPER",
    "QUANTILES",
    "SIGNAL_TO_NOISE",
    "HeatMap",
    "Marginal",
    "ResidualAccumulator",
    "ResidualStatistics",
    "check_compatible",
    "evaluate_model",
    "heat_map",
    "inverter_accuracy",
    "marginals",
    "parameter_errors",
    "residual_statistics",
    "speed_report",
    "time_generation",
    "time_synthesis",
]
