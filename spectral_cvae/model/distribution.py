"""Data-parallel training: which devices share a batch and which part of it this worker reads.

With several accelerators visible (or several machines), every device holds a copy of the
network and trains on its own slice of each batch; the gradients are averaged. Keras 3
expresses that as :class:`keras.distribution.DataParallel` (JAX backend); with TensorFlow a
``tf.distribute`` strategy does the same (see the README's recipe).

Either way the *global* batch stays the one a single device would train on: each worker
(process) reads only its contiguous part of it from the HDF5 grid (its :class:`Shard`), so no
spectrum is read twice and a run on N devices sees the batches of a run on one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import keras

from ..errors import ConfigError

if TYPE_CHECKING:
    from .data import SpectrumBatches


@dataclass(frozen=True)
class Shard:
    """This worker's part of every global batch.

    Parameters
    ----------
    index
        The worker (process) number, 0 to ``count - 1``.
    count
        Workers (processes) taking part; each reads ``1 / count`` of every batch.
    devices
        Devices the global batch is split over (all workers together). Every global batch
        holds a multiple of this many spectra, so each device gets an equal slice.
    """

    index: int = 0
    count: int = 1
    devices: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"worker {self.index} outside 0..{self.count - 1}")
        if self.devices < 1 or self.devices % self.count:
            raise ConfigError(
                f"{self.devices} devices cannot be shared evenly by {self.count} workers"
            )

    @property
    def parallel(self) -> bool:
        """True if a batch is split over more than one device."""
        return self.devices > 1

    def unit_multiple(self, spectra_per_unit: int) -> int:
        """Units (spectra, or base models of ``spectra_per_unit`` draws) a batch is made of.

        The global batch must split into ``count`` equal parts of whole units and its
        spectra into ``devices`` equal slices.
        """
        per_device = self.devices // math.gcd(self.devices, spectra_per_unit)
        return math.lcm(self.count, per_device)

    def part(self, n: int) -> slice:
        """The slice of a global batch of ``n`` units that this worker reads."""
        return slice(n * self.index // self.count, n * (self.index + 1) // self.count)


SINGLE_DEVICE = Shard()
"""One worker on one device: every batch read whole."""


def data_parallel(
    devices: Literal["auto"] | list[str] | None = "auto",
) -> tuple[keras.distribution.DataParallel | None, Shard]:
    """The Keras distribution for data-parallel training, and this worker's shard.

    Parameters
    ----------
    devices
        ``"auto"``: every device Keras lists (``keras.distribution.list_devices()``);
        a list such as ``["gpu:0", "gpu:1"]``; None: train on one device.

    Returns
    -------
    distribution, shard
        ``keras.distribution.DataParallel`` over the devices (None on one device or on a
        backend without ``keras.distribution``: then a ``tf.distribute`` strategy, if one is
        active, is used instead) and this worker's :class:`Shard`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return None, tensorflow_shard()
    if devices is None or backend != "jax":
        return None, SINGLE_DEVICE
    devices = keras.distribution.list_devices() if devices == "auto" else list(devices)
    if len(devices) < 2:
        return None, SINGLE_DEVICE
    import jax

    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    return distribution, Shard(jax.process_index(), jax.process_count(), len(devices))


def tensorflow_shard() -> Shard:
    """The shard of this worker under an active ``tf.distribute`` strategy, if any."""
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return SINGLE_DEVICE
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return shard_from_tf_config(json.loads(os.environ.get("TF_CONFIG") or "{}"), replicas)


def shard_from_tf_config(config: dict, replicas: int) -> Shard:
    """This worker's shard from a ``TF_CONFIG`` description of the cluster.

    Parameters
    ----------
    config
        ``{"cluster": {"chief": [...], "worker": [...]}, "task": {"type": ..., "index":
        ...}}``, as ``MultiWorkerMirroredStrategy`` reads it; the chief (if any) is worker 0.
    replicas
        The strategy's replicas, all workers together (``num_replicas_in_sync``).
    """
    cluster, task = config.get("cluster", {}), config.get("task", {})
    chief = len(cluster.get("chief", []))
    count = chief + len(cluster.get("worker", []))
    if count <= 1:
        return Shard(devices=replicas)
    index = int(task.get("index", 0)) + (chief if task.get("type") == "worker" else 0)
    return Shard(index, count, replicas)


def per_replica(loss: object) -> object:
    """The share of a batch's mean loss that one replica's gradient carries.

    ``tf.distribute`` sums the replicas' gradients, so each replica's loss is divided by
    their number; JAX's data parallelism computes the global mean itself.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


def worker_input(batches: SpectrumBatches | None) -> object:
    """What ``fit`` should read: the batches themselves, or, for TensorFlow's multi-worker
    strategy, a ``tf.data`` stream of them that the strategy does not shard again.

    ``tf.distribute`` would otherwise shard the stream by element, each worker keeping every
    N-th batch of its own part: the batches already are this worker's part.
    """
    if batches is None or batches.shard.count == 1 or keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    n_pixels = batches.wavelength.size if hasattr(batches, "wavelength") else None
    n_pixels = n_pixels or batches.grid.n_pixels
    flux = tf.TensorSpec((None, n_pixels), tf.float32)
    condition = tf.TensorSpec((None, len(batches.space)), tf.float32)

    def stream():
        positions = itertools.count() if batches.shuffle else range(batches.n_batches)
        for index in positions:
            yield batches[index]

    dataset = tf.data.Dataset.from_generator(stream, output_signature=((flux, condition), flux))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


__all__ = [
    "SINGLE_DEVICE",
    "Shard",
    "data_parallel",
    "per_replica",
    "shard_from_tf_config",
    "tensorflow_shard",
    "worker_input",
]
