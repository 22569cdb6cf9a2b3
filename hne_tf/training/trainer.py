"""The Keras model that trains a tree ensemble: :class:`EnsembleTrainer`, its custom
``train_step`` / ``test_step`` for any loss of :mod:`hne_tf.losses`, and their metrics."""

from __future__ import annotations

import inspect

import keras
import tensorflow as tf

from hne_tf import losses as losses_lib
from hne_tf.ensemble import ensemble_logits
from hne_tf.models import Outputs, TreeEnsemble
from hne_tf.tree import default_prefixes


class _EpochClock(keras.callbacks.Callback):
    """Sets the trainer's ``epoch`` (the ramp-up clock of the distillation weight) as each epoch begins."""

    def __init__(self, trainer: EnsembleTrainer) -> None:
        super().__init__()
        self.trainer = trainer

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.trainer.epoch.assign(float(epoch))


class EnsembleTrainer(keras.Model):
    """Custom train/test steps around a tree ensemble.

    Args:
      ensemble: the :class:`TreeEnsemble`.
      loss_fn: a loss of the registry by name (``"hierarchical_distillation"``;
        :func:`hne_tf.losses.get_loss` builds it for ``ensemble``, with
        ``loss_options`` as its hyperparameters), or a loss function such as
        ``get_loss`` returns: per-example
        ``{"loss": [batch], component: [batch], ...}``. If it takes a
        ``no_trunk_grad`` argument, training asks it for the part of the loss
        that must not train the trunk (see :meth:`compute_gradients`).
      weight_decay: L2 coefficient added to the loss as
        ``weight_decay / 2 * sum(w^2)`` over all trainable weights, i.e. the
        gradient gets ``weight_decay * w`` like PyTorch's SGD, which the
        papers used (Keras' own ``weight_decay`` is decoupled, a different
        regulariser).
      rampup_epochs: sigmoid ramp-up of the distillation weight (ONE).
      loss_options: the hyperparameters of a loss given by name.

    ``loss_name`` is the registry name of the loss (None for a function of one's own).
    Logged metrics: every loss component, ``l2``, and ``acc_k{k}`` (accuracy
    of the ensemble of the first ``k`` leaves, under the model's
    ``ensemble_rule``) for k = 1, 2, 4, ..., N.
    """

    def __init__(self, ensemble: TreeEnsemble, loss_fn, weight_decay: float = 0.0,
                 rampup_epochs: float = 0.0, loss_options: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ensemble = ensemble
        if isinstance(loss_fn, str):
            self.loss_name = loss_fn
            loss_fn = losses_lib.get_loss(loss_fn, ensemble.family, ensemble.num_leaves, **(loss_options or {}))
        else:
            if loss_options:
                raise ValueError("loss_options apply to a loss given by name, not to a loss function")
            name = getattr(loss_fn, "__name__", "").removesuffix("_loss")  # get_loss names its function NAME_loss
            self.loss_name = name if name in losses_lib.LOSSES else None
        self.loss_fn = loss_fn
        self.weight_decay = float(weight_decay)
        self.rampup_epochs = float(rampup_epochs)
        self.epoch = keras.Variable(0.0, trainable=False, name="epoch", dtype="float32")
        self.prefixes = default_prefixes(ensemble.num_leaves)
        dummy = ensemble(tf.zeros((2,) + ensemble.image_shape), training=False)
        try:
            self._accepts_split = "no_trunk_grad" in inspect.signature(loss_fn).parameters
        except (TypeError, ValueError):  # a callable without a signature
            self._accepts_split = False
        names = list(self._terms(tf.zeros((2,), tf.int32), dummy, 1.0, split=False))
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        if self.weight_decay:
            self.loss_trackers["l2"] = keras.metrics.Mean(name="l2")
        self.acc_trackers = {k: keras.metrics.SparseCategoricalAccuracy(name=f"acc_k{k}")
                             for k in self.prefixes}
        self.built = True

    def fit(self, *args, callbacks=None, **kwargs) -> keras.callbacks.History:
        """``keras.Model.fit``, with the epoch clock of the distillation ramp-up kept by the trainer itself."""
        x = args[0] if args else kwargs.get("x")
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras warns that it ignores shuffle=True
        return super().fit(*args, callbacks=list(callbacks or []) + [_EpochClock(self)], **kwargs)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.loss_trackers.values()) + list(self.acc_trackers.values())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        # Keras 3.15's fit() first reduces a sample batch across replicas to
        # build the model symbolically; under MultiWorkerMirroredStrategy that
        # reduction fails (PerReplica -> Tensor). The model and metrics are
        # built in __init__; only the optimizer may be left to build.
        if not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.ensemble.trainable_variables)

    def call(self, inputs, training=False) -> Outputs:
        return self.ensemble(inputs, training=training)

    def _distill_scale(self) -> float | tf.Tensor:
        return losses_lib.sigmoid_rampup(self.epoch, self.rampup_epochs)

    def _update(self, y, outputs, terms) -> dict[str, tf.Tensor]:
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        logits = tf.cast(outputs["logits"], tf.float32)
        for k, tracker in self.acc_trackers.items():
            tracker.update_state(y, ensemble_logits(logits, k, self.ensemble.ensemble_rule))
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs with axis=0 across workers: give them
            # that axis; the reduction returns scalars again.
            results = {name: tf.reshape(v, [1]) for name, v in results.items()}
        return results

    def _terms(self, y, outputs, distill_scale, split: bool) -> dict[str, tf.Tensor]:
        if split and self._accepts_split:
            return self.loss_fn(y, outputs, distill_scale=distill_scale, no_trunk_grad=True)
        return self.loss_fn(y, outputs, distill_scale=distill_scale)

    def compute_gradients(self, x, y) -> tuple[list, list, Outputs, dict[str, tf.Tensor], tf.Tensor | None]:
        """One forward pass and the gradients of the training objective.

        The objective is the global-batch mean of ``terms["loss"]`` plus the
        L2 term. Where the loss returns :data:`hne_tf.losses.NO_TRUNK_GRAD`
        (OEMC's feature hint, OEMC section 3.3), that part ``P`` is kept away
        from the trunk (``ensemble.trunk_variables()``): the gradient is
        ``grad(loss - P, all variables) + grad(P, non-trunk variables)`` from one
        persistent tape, so the value of the loss is unchanged and the
        forward pass runs once.

        Returns ``(grads, variables, outputs, terms, l2)``: the gradients are
        of the optimizer-scaled loss (``optimizer.scale_loss``), ``terms`` the
        per-example components without :data:`~hne_tf.losses.NO_TRUNK_GRAD`,
        ``l2`` None without weight decay.
        """
        variables = self.ensemble.trainable_variables
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.ensemble(x, training=True)
            terms = dict(self._terms(y, outputs, self._distill_scale(), split=True))
            no_trunk = terms.pop(losses_lib.NO_TRUNK_GRAD, None)
            # Mean over the global batch: each replica divides by the global
            # size so that summing gradients across replicas is right.
            loss = tf.nn.compute_average_loss(terms["loss"])
            l2 = None
            if self.weight_decay:
                l2 = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                                                          for v in variables])
                loss = loss + l2 / replicas
            if no_trunk is not None:
                part = tf.nn.compute_average_loss(no_trunk)
                scaled_part = self.optimizer.scale_loss(part)
                scaled = self.optimizer.scale_loss(loss - part)
            else:
                scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        if no_trunk is not None:
            trunk = {id(v) for v in self.ensemble.trunk_variables()}
            rest = [i for i, v in enumerate(variables) if id(v) not in trunk]
            extra = tape.gradient(scaled_part, [variables[i] for i in rest])
            for i, g in zip(rest, extra, strict=True):
                if g is not None:
                    grads[i] = g if grads[i] is None else grads[i] + g
        del tape
        return grads, variables, outputs, terms, l2

    def train_step(self, data) -> dict[str, tf.Tensor]:
        x, y = data
        grads, variables, outputs, terms, l2 = self.compute_gradients(x, y)
        self.optimizer.apply(grads, variables)
        terms = {name: tf.reduce_mean(v) for name, v in terms.items()}
        if l2 is not None:
            terms["l2"] = l2
        return self._update(y, outputs, terms)

    def test_step(self, data) -> dict[str, tf.Tensor]:
        x, y = data
        outputs = self.ensemble(x, training=False)
        terms = self.loss_fn(y, outputs, distill_scale=1.0)
        return self._update(y, outputs, {n: tf.reduce_mean(v) for n, v in terms.items()})
