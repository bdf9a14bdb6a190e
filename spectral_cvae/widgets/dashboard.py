"""TrainingDashboard: live loss and learning-rate curves of a CVAE being trained."""

from __future__ import annotations

import math
import time

import bqplot as bq
import ipywidgets as widgets
import keras
import numpy as np

CURVES = ("reconstruction_loss", "kl_loss", "loss")
"""Quantities drawn per epoch, each for the training and (``val_``) validation data."""
COLORS = {"reconstruction_loss": "#1f77b4", "kl_loss": "#ff7f0e", "loss": "#2ca02c"}


class TrainingDashboard(keras.callbacks.Callback):
    """A Keras callback that draws its training live in a notebook widget.

    Pass it to :func:`~spectral_cvae.model.train` (``callbacks=[dashboard]``) after showing
    ``dashboard`` (or ``dashboard.widget``) in a cell. Per epoch it appends to

    - ``lines[name]`` and ``lines["val_" + name]`` for the reconstruction loss (mean squared
      flux error), the KL term and their weighted sum, on a log scale;
    - ``lr_line``: the learning rate, log scale, with ``lr_cuts`` marking the epochs where
      ReduceLROnPlateau lowered it, and ``best`` marking the best epoch so far of the
      quantity EarlyStopping watches (the validation reconstruction loss when there is
      validation data);
    - ``progress`` (epochs done) and ``eta`` (estimated time left at the mean epoch time).

    The Stop button sets ``model.stop_training``: Keras ends the epoch after the current batch
    and stops, and :func:`~spectral_cvae.model.train` keeps the best epoch's weights as usual.
    A click reaches the kernel only while no cell runs: for a Stop button that answers
    during training, train with :class:`~spectral_cvae.widgets.BackgroundTraining`.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The view.
    history : list of dict
        One entry per finished epoch: the Keras logs and ``learning_rate``.
    stop_requested : bool
        Whether Stop was pressed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict] = []
        self.stop_requested = False
        self._start = time.monotonic()
        self._initial_epoch = 0

        epoch_scale = bq.LinearScale()
        loss_scale = bq.LogScale()
        self.lines: dict[str, bq.Lines] = {}
        for name in CURVES:
            for prefix, dashes in (("", "solid"), ("val_", "dashed")):
                self.lines[prefix + name] = bq.Lines(
                    x=np.zeros(0),
                    y=np.zeros(0),
                    scales={"x": epoch_scale, "y": loss_scale},
                    colors=[COLORS[name]],
                    line_style=dashes,
                    labels=[("validation " if prefix else "training ") + name.replace("_", " ")],
                    display_legend=True,
                    marker="circle",
                    marker_size=12,
                )
        self.loss_figure = bq.Figure(
            marks=list(self.lines.values()),
            axes=[
                bq.Axis(scale=epoch_scale, label="epoch", tick_format="d"),
                bq.Axis(scale=loss_scale, side="left", label="loss", tick_format=".0e"),
            ],
            legend_location="top-right",
            title="Losses (solid: training, dashed: validation)",
            fig_margin={"top": 40, "bottom": 45, "left": 70, "right": 20},
            layout=widgets.Layout(width="100%", height="340px"),
        )

        lr_epoch_scale = bq.LinearScale()
        lr_scale = bq.LogScale()
        self.lr_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": lr_epoch_scale, "y": lr_scale},
            colors=["#9467bd"],
            marker="circle",
            marker_size=12,
        )
        self.lr_cuts = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": lr_epoch_scale, "y": lr_scale},
            marker="triangle-down",
            colors=["#d62728"],
            default_size=64,
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["epoch", "new learning rate"]),
        )
        self.best = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": epoch_scale, "y": loss_scale},
            marker="diamond",
            colors=["black"],
            default_size=90,
        )
        self.loss_figure.marks = [*self.loss_figure.marks, self.best]
        self.lr_figure = bq.Figure(
            marks=[self.lr_line, self.lr_cuts],
            axes=[
                bq.Axis(scale=lr_epoch_scale, label="epoch", tick_format="d"),
                bq.Axis(scale=lr_scale, side="left", label="learning rate", tick_format=".0e"),
            ],
            title="Learning rate (triangles: cut on a plateau)",
            fig_margin={"top": 40, "bottom": 45, "left": 70, "right": 20},
            layout=widgets.Layout(width="100%", height="220px"),
        )

        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="epochs")
        self.eta = widgets.Label("waiting for training to start")
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            button_style="danger",
            tooltip="End training after this epoch; the best weights are kept",
        )
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.progress, self.stop_button]),
                self.eta,
                self.loss_figure,
                self.lr_figure,
            ]
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def monitor(self) -> str:
        """The quantity whose minimum marks the best epoch."""
        has_validation = any("val_reconstruction_loss" in h for h in self.history)
        return "val_reconstruction_loss" if has_validation else "reconstruction_loss"

    def stop(self) -> None:
        """End training after the current batch (what the Stop button does)."""
        self.stop_requested = True
        self.eta.value = "stopping after this epoch"
        if self._model is not None:
            self.model.stop_training = True

    # -- Keras callback ------------------------------------------------------------------------
    def on_train_begin(self, logs=None) -> None:
        self._start = time.monotonic()
        self._initial_epoch = len(self.history)
        self.progress.max = int(self.params.get("epochs", 1) or 1)
        self.eta.value = "training"
        if self.stop_requested:
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        # Keras resets stop_training at the start of fit(); keep a Stop pressed before.
        if self.stop_requested:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        previous = self.history[-1]["learning_rate"] if self.history else None
        self.history.append({"epoch": epoch, **logs, "learning_rate": rate})
        epochs = np.array([h["epoch"] for h in self.history], dtype=float)
        for name, line in self.lines.items():
            values = np.array([h.get(name, np.nan) for h in self.history], dtype=float)
            if np.isfinite(values).any():
                with line.hold_sync():
                    # A log scale cannot show 0: a KL term that collapsed is drawn at 1e-12.
                    line.x, line.y = epochs, np.maximum(values, 1e-12)
        with self.lr_line.hold_sync():
            self.lr_line.x = epochs
            self.lr_line.y = np.array([h["learning_rate"] for h in self.history])
        if previous is not None and rate < previous:
            with self.lr_cuts.hold_sync():
                self.lr_cuts.x = np.append(self.lr_cuts.x, float(epoch))
                self.lr_cuts.y = np.append(self.lr_cuts.y, rate)
        monitored = [(h.get(self.monitor, math.inf), h["epoch"]) for h in self.history]
        value, best_epoch = min(monitored)
        if math.isfinite(value):
            with self.best.hold_sync():
                self.best.x, self.best.y = np.array([best_epoch], float), np.array([value])
        self._set_ticks()
        self._show_progress(epoch)
        if self.stop_requested:
            self.model.stop_training = True

    def _set_ticks(self) -> None:
        # bqplot's own ticks repeat integers ("0 0 0 1 1") on a short epoch axis and crowd
        # a log axis with a label per 1-9 multiple: whole epochs and a few round values.
        epoch_ticks = _whole_ticks(self.history[0]["epoch"], self.history[-1]["epoch"])
        self.loss_figure.axes[0].tick_values = self.lr_figure.axes[0].tick_values = epoch_ticks
        drawn = [line.y[np.isfinite(line.y)] for line in self.lines.values() if len(line.y)]
        loss_ticks = _log_ticks(np.concatenate(drawn)) if drawn else []
        for axis, ticks in (
            (self.loss_figure.axes[1], loss_ticks),
            (self.lr_figure.axes[1], _log_ticks(self.lr_line.y)),
        ):
            if len(ticks) >= 2:
                # The scale spans the outer round values, so the end ticks are drawn too.
                with axis.scale.hold_sync():
                    axis.scale.min, axis.scale.max = float(ticks[0]), float(ticks[-1])
                axis.tick_values = ticks

    def _show_progress(self, epoch: int) -> None:
        self.progress.value = min(epoch + 1, self.progress.max)
        done = len(self.history) - self._initial_epoch
        per_epoch = (time.monotonic() - self._start) / max(done, 1)
        left = (self.progress.max - epoch - 1) * per_epoch
        self.eta.value = (
            f"epoch {epoch + 1}/{self.progress.max}, {per_epoch:.1f} s per epoch, "
            f"at most {_duration(left)} left (early stopping may end sooner)"
        )

    def on_train_end(self, logs=None) -> None:
        done = self.history[-1]["epoch"] + 1 if self.history else 0
        if self.stop_requested:
            how = "stopped by the Stop button"
        elif done < self.progress.max:
            how = "ended early (early stopping or a time limit)"
        else:
            how = "finished"
        best = f"; best epoch {int(self.best.x[0])}, its weights kept" if len(self.best.x) else ""
        self.eta.value = f"{how} after {done} epochs{best}"


def _whole_ticks(first: int, last: int, most: int = 10) -> np.ndarray:
    """At most ``most`` whole numbers from ``first`` to ``last``, evenly spread."""
    return np.unique(np.round(np.linspace(first, last, min(last - first + 1, most))))


def _log_ticks(values: np.ndarray) -> np.ndarray:
    """Round values (1, 2 and 5 times powers of ten) over the range of positive ``values``.

    Only powers of ten when the range spans three decades or more; always one round value
    below the smallest and one above the largest, so that the range sits inside.
    """
    values = values[values > 0]
    if values.size == 0:
        return np.array([])
    low, high = np.floor(np.log10(values.min())), np.ceil(np.log10(values.max()))
    decades = 10.0 ** np.arange(low - 1, high + 2)
    steps = (1.0,) if high - low >= 3 else (1.0, 2.0, 5.0)
    ticks = np.sort(np.outer(decades, steps).ravel())
    inside = (ticks >= values.min()) & (ticks <= values.max())
    below = ticks[ticks < values.min()][-1:]
    above = ticks[ticks > values.max()][:1]
    return np.concatenate([below, ticks[inside], above])


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"
