"""Training and evaluation of tree ensembles with ``model.fit``.

:class:`EnsembleTrainer` wraps a :class:`hne_tf.TreeEnsemble` with a custom
``train_step`` / ``test_step`` for any loss of :mod:`hne_tf.losses`.
:func:`run` is the whole job behind ``train.py``: data, model, optimizer and
schedule, distribution strategy, checkpoints with resume, TensorBoard,
evaluation (``eval.json``) and plots.

One module per concern (compare tf-models' ``base_task`` / ``base_trainer`` /
``train_lib``):

- :mod:`~hne_tf.training.errors`: the exceptions, and the file writes that raise them;
- :mod:`~hne_tf.training.schedules`: the papers' learning-rate schedules;
- :mod:`~hne_tf.training.task`: what a run trains (inputs, model, loss, trainer): the seam a task of
  your own overrides;
- :mod:`~hne_tf.training.trainer`: the Keras model with the custom train and test steps;
- :mod:`~hne_tf.training.config`: the run's settings and their checks;
- :mod:`~hne_tf.training.distribute`: the distribution strategy and the devices;
- :mod:`~hne_tf.training.checkpoints`: save, restore, list and clean checkpoints;
- :mod:`~hne_tf.training.lock`: one run per ``--model_dir``;
- :mod:`~hne_tf.training.interrupt`: Ctrl-C during ``fit``;
- :mod:`~hne_tf.training.report`: evaluation, plot and table;
- :mod:`~hne_tf.training.job`: the job (:func:`run`) and the loaders (:func:`load_run`, :func:`load_trained`).

This package re-exports the public names of each.
"""

from hne_tf.training.checkpoints import CHECKPOINT_PREFIX, Checkpointer, StopOnNaN, checkpoint_numbers, restore
from hne_tf.training.config import RESUME_FLAGS, TrainConfig, validate
from hne_tf.training.distribute import STRATEGIES, describe_devices, is_chief, make_strategy
from hne_tf.training.errors import Interrupted, TrainingError
from hne_tf.training.job import TrainedRun, load_run, load_trained, run
from hne_tf.training.lock import LOCK_FILE, RunLock, trainer_holding
from hne_tf.training.report import evaluate, format_eval, plot_eval
from hne_tf.training.schedules import SCHEDULES, PaperSchedule
from hne_tf.training.task import ClassificationTask, Task
from hne_tf.training.trainer import EnsembleTrainer

__all__ = ["CHECKPOINT_PREFIX", "LOCK_FILE", "RESUME_FLAGS", "SCHEDULES", "STRATEGIES", "Checkpointer",
           "ClassificationTask", "EnsembleTrainer", "Interrupted", "PaperSchedule", "RunLock", "StopOnNaN", "Task",
           "TrainConfig", "TrainedRun", "TrainingError", "checkpoint_numbers", "describe_devices", "evaluate",
           "format_eval", "is_chief", "load_run", "load_trained", "make_strategy", "plot_eval", "restore", "run",
           "trainer_holding", "validate"]
