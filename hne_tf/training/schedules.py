"""The learning-rate schedules of the seed papers (:class:`PaperSchedule`)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

SCHEDULES = ("cosine", "step", "imagenet_halving", "constant")


@keras.saving.register_keras_serializable(package="hne_tf")
class PaperSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning-rate schedules of the seed papers, per optimizer step.

    - ``cosine``: half cosine from ``lr`` to 0 (HNE, CIFAR).
    - ``step``: x0.1 at 50% and 75% of training (ONE).
    - ``imagenet_halving``: halve at epochs 60, 90, 110, 125, 135 and 145 of
      150 (the HNE preprint's ImageNet schedule), scaled to the run's length.
    - ``constant``.
    """

    HALVING = (60 / 150, 90 / 150, 110 / 150, 125 / 150, 135 / 150, 145 / 150)

    def __init__(self, kind, lr, total_steps) -> None:
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
        self.kind, self.lr, self.total_steps = kind, float(lr), max(1, int(total_steps))

    def __call__(self, step) -> tf.Tensor:
        t = tf.minimum(tf.cast(step, tf.float32) / self.total_steps, 1.0)
        if self.kind == "cosine":
            return self.lr * 0.5 * (1.0 + tf.cos(math.pi * t))
        if self.kind == "step":
            return self.lr * tf.pow(0.1, tf.cast(t >= 0.5, tf.float32) + tf.cast(t >= 0.75, tf.float32))
        if self.kind == "imagenet_halving":
            drops = tf.add_n([tf.cast(t >= m, tf.float32) for m in self.HALVING])
            return self.lr * tf.pow(0.5, drops)
        return tf.constant(self.lr, tf.float32)

    def get_config(self) -> dict:
        return {"kind": self.kind, "lr": self.lr, "total_steps": self.total_steps}
