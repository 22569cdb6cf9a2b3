"""What a run trains: the :class:`Task` seam between a problem and the training loop.

As in tf-models' ``base_task``, the loop (:func:`hne_tf.training.run`) owns
checkpoints, resume, locks, signals and reports, and asks a task for the
rest: its inputs (:meth:`Task.build_inputs`), its model
(:meth:`Task.build_model`), its loss (:meth:`Task.build_losses`), and the
Keras model whose ``train_step`` / ``test_step`` train it
(:meth:`Task.build_trainer`; :class:`~hne_tf.training.trainer.EnsembleTrainer`
by default). :class:`ClassificationTask` is the task of ``train.py``: image
classification on a data set of the registry :mod:`hne_tf.datasets`, with a preset of
:mod:`hne_tf.presets` and a loss of :mod:`hne_tf.losses`. A task of your own
overrides what differs and passes itself to ``run(config, task=...)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import tensorflow as tf

from hne_tf import datasets
from hne_tf import losses as losses_lib
from hne_tf.models import TreeEnsemble, build_model
from hne_tf.presets import TEACHER
from hne_tf.training.config import TrainConfig
from hne_tf.training.errors import TrainingError
from hne_tf.training.trainer import EnsembleTrainer


class Task:
    """The problem a run trains on; subclass it and override what differs.

    ``info`` (a :class:`hne_tf.datasets.DatasetInfo`: input shape and spec, classes, label
    names, split sizes) describes what :meth:`build_inputs` delivers; ``run`` stores it with the
    run (``dataset.json``, ``eval.json``) and refuses to resume a run whose input spec or label
    names differ from it.
    """

    def __init__(self, config: TrainConfig, info: datasets.DatasetInfo) -> None:
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
    """``train.py``'s task: a data set of :mod:`hne_tf.datasets` by name, as the config says.

    Its ``config.dataset`` is the data set's full name (``folder:/absolute/path``), and
    ``dataset`` the :class:`hne_tf.datasets.Dataset`. A data set that computes its statistics
    from the data does so here, once (``log`` gets its progress), or takes those that
    ``<model_dir>/dataset.json`` stored when the run resumes.
    """

    def __init__(self, config: TrainConfig, log: Callable[[str], None] = print) -> None:
        try:
            dataset = datasets.get(config.dataset, data_dir=config.data_dir, **config.dataset_options())
        except ValueError as e:
            raise TrainingError(str(e)) from None
        config = dataclasses.replace(config, dataset=dataset.full_name)
        dataset.prepare(log, _stored_record(config))
        super().__init__(config, dataset.info)
        self.dataset = dataset
        try:
            dataset.check_validation_examples(config.validation_examples)
        except ValueError as e:
            raise TrainingError(f"--{e}") from None

    def build_inputs(self, split: str, training: bool = False) -> tf.data.Dataset:
        c = self.config
        if training:
            return self.dataset.load(split, c.batch_size, training=True, seed=c.seed, repeat=True,
                                     drop_remainder=True, augmentation=c.augmentation,
                                     validation_examples=c.validation_examples)
        take = c.eval_examples if split == "test" else None
        return self.dataset.load(split, c.eval_batch_size, take=take, validation_examples=c.validation_examples)


def _stored_record(config: TrainConfig) -> dict | None:
    """``dataset.json`` of the run in ``config.model_dir`` when that run is of ``config.dataset`` (a resume);
    None otherwise (a new run, or another data set's, which the resume check refuses later)."""
    try:
        with open(os.path.join(config.model_dir, "config.json"), encoding="utf-8") as f:
            if json.load(f).get("dataset") != config.dataset:
                return None
    except (OSError, ValueError, AttributeError):
        return None
    try:
        return datasets.read_run_record(config.model_dir)
    except datasets.DataError as e:
        raise TrainingError(str(e)) from None
