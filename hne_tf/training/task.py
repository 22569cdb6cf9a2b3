"""What a run trains: the :class:`Task` seam between a problem and the training loop.

As in tf-models' ``base_task``, the loop (:func:`hne_tf.training.run`) owns
checkpoints, resume, locks, signals and reports, and asks a task for the
rest: its inputs (:meth:`Task.build_inputs`), its model
(:meth:`Task.build_model`), its loss (:meth:`Task.build_losses`), and the
Keras model whose ``train_step`` / ``test_step`` train it
(:meth:`Task.build_trainer`; :class:`~hne_tf.training.trainer.EnsembleTrainer`
by default). :class:`ClassificationTask` is the task of ``train.py``: image
classification on a data set of :mod:`hne_tf.data`, with a preset of
:mod:`hne_tf.presets` and a loss of :mod:`hne_tf.losses`. A task of your own
overrides what differs and passes itself to ``run(config, task=...)``.
"""

from __future__ import annotations

import json

import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf import losses as losses_lib
from hne_tf.models import TreeEnsemble, build_model
from hne_tf.presets import TEACHER
from hne_tf.training.config import TrainConfig
from hne_tf.training.errors import TrainingError
from hne_tf.training.trainer import EnsembleTrainer


class Task:
    """The problem a run trains on; subclass it and override what differs.

    ``info`` (a :class:`hne_tf.data.DatasetInfo`: input shape, classes, label
    names, split sizes) describes what :meth:`build_inputs` delivers.
    """

    def __init__(self, config: TrainConfig, info: data_lib.DatasetInfo) -> None:
        self.config = config
        self.info = info

    @property
    def train_size(self) -> int:
        """Training examples per pass, after the validation hold-out."""
        return self.info.train_size - self.config.validation_examples

    def build_inputs(self, split: str, training: bool = False) -> tf.data.Dataset:
        """``(images, labels)`` batches of ``split`` ("train", "validation" or "test"); the training
        pipeline repeats, shuffles, augments and drops the last partial batch."""
        raise NotImplementedError

    def build_model(self) -> TreeEnsemble:
        """The ensemble, built inside the distribution strategy's scope."""
        c = self.config
        try:
            return build_model(c.model, self.info.input_shape, self.info.num_classes, **c.model_options)
        except (ValueError, TypeError, ZeroDivisionError) as e:
            raise TrainingError(f"--model={c.model} --model_options={json.dumps(c.model_options)}: {e}") from None

    def build_losses(self, ensemble: TreeEnsemble) -> losses_lib.LossFn:
        """The training objective for ``ensemble`` (:func:`hne_tf.losses.get_loss`), with the model's own
        teacher (``ensemble.teacher_logits``) where its family has one."""
        teacher = ensemble.teacher_logits if ensemble.extra(TEACHER) is not None else None
        try:
            return losses_lib.get_loss(self.config.loss, ensemble.family, ensemble.num_leaves, teacher=teacher,
                                       **self.config.loss_options)
        except ValueError as e:
            raise TrainingError(str(e)) from None

    def build_trainer(self, ensemble: TreeEnsemble, loss_fn: losses_lib.LossFn) -> EnsembleTrainer:
        """The Keras model whose ``train_step`` and ``test_step`` train and validate ``ensemble``."""
        return EnsembleTrainer(ensemble, loss_fn, self.config.weight_decay, self.config.rampup_epochs)


class ClassificationTask(Task):
    """``train.py``'s task: a data set of :mod:`hne_tf.data` by name, as the config says."""

    def __init__(self, config: TrainConfig) -> None:
        info = data_lib.dataset_info(config.dataset)
        super().__init__(config, info)
        try:
            data_lib.check_validation_examples(info, config.validation_examples)
        except ValueError as e:
            raise TrainingError(f"--{e}") from None

    def build_inputs(self, split: str, training: bool = False) -> tf.data.Dataset:
        c = self.config
        if training:
            return data_lib.load(c.dataset, split, c.batch_size, data_dir=c.data_dir, training=True, seed=c.seed,
                                 repeat=True, drop_remainder=True, augmentation=c.augmentation,
                                 validation_examples=c.validation_examples)
        take = c.eval_examples if split == "test" else None
        return data_lib.load(c.dataset, split, c.eval_batch_size, data_dir=c.data_dir, take=take,
                             validation_examples=c.validation_examples)
