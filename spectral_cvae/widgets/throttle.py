"""Rate-limit an expensive widget callback (a decoder run per slider step)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Throttle:
    """Call ``function`` at most once per ``interval`` seconds, always ending on the last call.

    A slider dragged in JupyterLab sends a value per pixel moved; redrawing for each would
    queue decoder runs behind the pointer. The first call runs at once (the view answers
    immediately); calls arriving within ``interval`` of the last run are merged into one
    trailing run, scheduled on the kernel's asyncio loop, with the newest arguments, so the
    view always ends on the value the user let go at. Without a running event loop (plain
    Python, tests), every call runs at once.

    Parameters
    ----------
    function
        The callback.
    interval
        Minimum time between two runs, seconds.
    """

    def __init__(self, function: Callable[..., object], interval: float = 0.05) -> None:
        self.function = function
        self.interval = float(interval)
        self.calls = 0
        """Runs of ``function`` so far."""
        self._last = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self._args: tuple = ()
        self._kwargs: dict = {}

    def __call__(self, *args: object, **kwargs: object) -> None:
        self._args, self._kwargs = args, kwargs
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run()
            return
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0 and self._pending is None:
            self._run()
        elif self._pending is None:
            self._pending = loop.call_later(max(wait, 0.0), self._run_pending)

    def _run_pending(self) -> None:
        self._pending = None
        self._run()

    def _run(self) -> None:
        self._last = time.monotonic()
        self.calls += 1
        self.function(*self._args, **self._kwargs)
