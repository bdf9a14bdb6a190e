"""ipywidgets + bqplot views of grids, models and training, for JupyterLab.

The widgets call the library; the library never imports them, so ``spectral_cvae`` works
without a notebook stack installed (``pip install spectral-cvae[notebook]`` adds it).

>>> from spectral_cvae.widgets import SpectrumExplorer, TrainingDashboard   # doctest: +SKIP
>>> dashboard = TrainingDashboard()
>>> dashboard                        # the widget: live loss curves, progress, Stop button
>>> generator = train(grid, config, callbacks=[dashboard])
>>> run = BackgroundTraining(dashboard, grid, config)   # or: train in a thread, Stop answers
>>> SpectrumExplorer(generator, grid)
>>> ResidualMapViewer(generator, grid, indices=split.test)    # mean |Delta F| per bin
>>> InverterPanel(PCAInverter().fit(grid, split), generator, grid, split)
>>> FitPanel(generator, grid, split)       # fit a realistic test spectrum or a file, Fit button
"""

from .background import BackgroundTraining
from .dashboard import TrainingDashboard
from .explorer import SpectrumExplorer
from .fit_panel import FitPanel
from .inverter_panel import InverterPanel
from .residual_map import ResidualMapViewer
from .throttle import Throttle

__all__ = [
    "BackgroundTraining",
    "FitPanel",
    "InverterPanel",
    "ResidualMapViewer",
    "SpectrumExplorer",
    "Throttle",
    "TrainingDashboard",
]
