"""Training in a background thread, so a notebook's widgets answer while the model trains."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from ..model import SpectrumGenerator, train
from .dashboard import TrainingDashboard


class BackgroundTraining:
    """:func:`~spectral_cvae.model.train` running in a thread, drawn on a dashboard.

    A notebook kernel reads widget messages (a click on Stop) only while no cell runs. Training
    in a thread leaves the kernel free: the cell that starts it returns at once, the dashboard
    keeps drawing, and Stop ends the run after the current batch, keeping the best weights.

    Parameters
    ----------
    dashboard
        Where the run is drawn; added to the run's callbacks.
    *args, **kwargs
        Passed to :func:`~spectral_cvae.model.train` (grid, config, split, seed, out, ...).

    Examples
    --------
    >>> dashboard = TrainingDashboard()                      # doctest: +SKIP
    >>> run = BackgroundTraining(dashboard, grid, config)    # returns at once
    >>> dashboard                                            # live curves, Stop button
    >>> generator = run.result()                             # waits for the end
    """

    def __init__(self, dashboard: TrainingDashboard, *args, **kwargs) -> None:
        self.dashboard = dashboard
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), dashboard]
        kwargs.setdefault("verbose", 0)
        self._future: Future[SpectrumGenerator] = Future()
        self._thread = threading.Thread(
            target=self._run, args=args, kwargs=kwargs, name="spectral-cvae-training", daemon=True
        )
        self._thread.start()

    def _run(self, *args, **kwargs) -> None:
        try:
            self._future.set_result(train(*args, **kwargs))
        except BaseException as exc:  # handed to result(), which re-raises it in the caller
            self.dashboard.eta.value = f"training failed: {exc}"
            self._future.set_exception(exc)

    def done(self) -> bool:
        """Whether training has ended (finished, stopped or failed)."""
        return self._future.done()

    def stop(self) -> None:
        """End training after the current batch, as the dashboard's Stop button does."""
        self.dashboard.stop()

    def result(self, timeout: float | None = None) -> SpectrumGenerator:
        """Wait for the end of training and return the model (best epoch's weights).

        Interrupting the kernel while waiting (the notebook's stop button, or Ctrl-C) stops
        training cleanly and still returns the model trained so far.

        Parameters
        ----------
        timeout
            Seconds to wait at most; None waits for the end.

        Raises
        ------
        TimeoutError
            Training had not ended after ``timeout`` seconds.
        Exception
            Whatever ended training with an error (bad grid, full disk, ...).
        """
        try:
            return self._future.result(timeout)
        except KeyboardInterrupt:
            self.stop()
            return self._future.result()
