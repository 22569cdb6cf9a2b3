"""Training and evaluation of tree ensembles with ``model.fit``.

:class:`EnsembleTrainer` wraps a :class:`hne_tf.TreeEnsemble` with a custom
``train_step`` / ``test_step`` for any loss of :mod:`hne_tf.losses`.
:func:`run` is the whole job behind ``train.py``: data, model, optimizer and
schedule, distribution strategy, checkpoints with resume, TensorBoard,
evaluation (``eval.json``) and plots.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
import time
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf import losses as losses_lib
from hne_tf.cost import cost_table
from hne_tf.ensemble import ensemble_logits
from hne_tf.metrics import EnsembleEvaluator
from hne_tf.models import TreeEnsemble, build_model
from hne_tf.presets import list_models
from hne_tf.tree import default_prefixes

SCHEDULES = ("cosine", "step", "imagenet_halving", "constant")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


# --------------------------------------------------------------- schedules

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

    def __init__(self, kind, lr, total_steps):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
        self.kind, self.lr, self.total_steps = kind, float(lr), max(1, int(total_steps))

    def __call__(self, step):
        t = tf.minimum(tf.cast(step, tf.float32) / self.total_steps, 1.0)
        if self.kind == "cosine":
            return self.lr * 0.5 * (1.0 + tf.cos(math.pi * t))
        if self.kind == "step":
            return self.lr * tf.pow(0.1, tf.cast(t >= 0.5, tf.float32) + tf.cast(t >= 0.75, tf.float32))
        if self.kind == "imagenet_halving":
            drops = tf.add_n([tf.cast(t >= m, tf.float32) for m in self.HALVING])
            return self.lr * tf.pow(0.5, drops)
        return tf.constant(self.lr, tf.float32)

    def get_config(self):
        return {"kind": self.kind, "lr": self.lr, "total_steps": self.total_steps}


# ----------------------------------------------------------------- trainer

class EnsembleTrainer(keras.Model):
    """Custom train/test steps around a tree ensemble.

    Args:
      ensemble: the :class:`TreeEnsemble`.
      loss_fn: from :func:`hne_tf.losses.get_loss`; returns per-example
        ``{"loss": [batch], component: [batch], ...}``.
      weight_decay: L2 coefficient added to the loss as
        ``weight_decay / 2 * sum(w^2)`` over all trainable weights, i.e. the
        gradient gets ``weight_decay * w`` like PyTorch's SGD, which the
        papers used (Keras' own ``weight_decay`` is decoupled, a different
        regulariser).
      rampup_epochs: sigmoid ramp-up of the distillation weight (ONE).

    Logged metrics: every loss component, ``l2``, and ``acc_k{k}`` (accuracy
    of the ensemble of the first ``k`` leaves) for k = 1, 2, 4, ..., N.
    """

    def __init__(self, ensemble: TreeEnsemble, loss_fn, weight_decay: float = 0.0,
                 rampup_epochs: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.ensemble = ensemble
        self.loss_fn = loss_fn
        self.weight_decay = float(weight_decay)
        self.rampup_epochs = float(rampup_epochs)
        self.epoch = keras.Variable(0.0, trainable=False, name="epoch", dtype="float32")
        self.prefixes = default_prefixes(ensemble.num_leaves)
        dummy = ensemble(tf.zeros((2,) + ensemble.image_shape), training=False)
        names = list(loss_fn(tf.zeros((2,), tf.int32), dummy))
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        if self.weight_decay:
            self.loss_trackers["l2"] = keras.metrics.Mean(name="l2")
        self.acc_trackers = {k: keras.metrics.SparseCategoricalAccuracy(name=f"acc_k{k}")
                             for k in self.prefixes}
        self.built = True

    @property
    def metrics(self):
        return list(self.loss_trackers.values()) + list(self.acc_trackers.values())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15's fit() first reduces a sample batch across replicas to
        # build the model symbolically; under MultiWorkerMirroredStrategy that
        # reduction fails (PerReplica -> Tensor). The model and metrics are
        # built in __init__; only the optimizer may be left to build.
        if not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.ensemble.trainable_variables)

    def call(self, inputs, training=False):
        return self.ensemble(inputs, training=training)

    def _distill_scale(self):
        return losses_lib.sigmoid_rampup(self.epoch, self.rampup_epochs)

    def _update(self, y, outputs, terms):
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        logits = tf.cast(outputs["logits"], tf.float32)
        for k, tracker in self.acc_trackers.items():
            tracker.update_state(y, ensemble_logits(logits, k))
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs with axis=0 across workers: give them
            # that axis; the reduction returns scalars again.
            results = {name: tf.reshape(v, [1]) for name, v in results.items()}
        return results

    def train_step(self, data):
        x, y = data
        variables = self.ensemble.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.ensemble(x, training=True)
            terms = self.loss_fn(y, outputs, distill_scale=self._distill_scale())
            # Mean over the global batch: each replica divides by the global
            # size so that summing gradients across replicas is right.
            loss = tf.nn.compute_average_loss(terms["loss"])
            if self.weight_decay:
                l2 = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                                                          for v in variables])
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
                loss = loss + l2 / replicas
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        terms = {name: tf.reduce_mean(v) for name, v in terms.items()}
        if self.weight_decay:
            terms["l2"] = l2
        return self._update(y, outputs, terms)

    def test_step(self, data):
        x, y = data
        outputs = self.ensemble(x, training=False)
        terms = self.loss_fn(y, outputs, distill_scale=1.0)
        return self._update(y, outputs, {n: tf.reduce_mean(v) for n, v in terms.items()})


# ----------------------------------------------------------------- config

@dataclasses.dataclass
class TrainConfig:
    model: str = "hne_resnet_mini"
    loss: str = "hierarchical_distillation"
    dataset: str = "fashion_mnist"
    data_dir: Optional[str] = None
    model_dir: str = "runs/hne_fashion_mnist"
    epochs: int = 2
    steps_per_epoch: Optional[int] = None
    batch_size: int = 128
    eval_batch_size: int = 256
    eval_examples: Optional[int] = None
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "cosine"
    weight_decay: float = 5e-4
    # Loss hyperparameters given on the command line (alpha, temperature, label_smoothing, ...);
    # the others take the loss's defaults (hne_tf.losses.LOSSES[loss].hparams).
    loss_options: Dict[str, object] = dataclasses.field(default_factory=dict)
    rampup_epochs: float = 0.0
    strategy: str = "default"
    tpu: str = ""
    mixed_precision: bool = False
    seed: int = 0
    model_options: Dict[str, object] = dataclasses.field(default_factory=dict)
    eval_only: bool = False

    # Changing these in an existing --model_dir would not resume the same run.
    IDENTITY = ("model", "loss", "dataset", "model_options")

    def to_json(self):
        return dataclasses.asdict(self)


def validate(config: TrainConfig) -> None:
    """Flag checks that need no data and no model: fail before writing anything."""
    def choice(flag, value, valid):
        if value not in valid:
            raise TrainingError(f"unknown --{flag}={value!r}; valid choices: {', '.join(valid)}")
    choice("model", config.model, list_models())
    choice("loss", config.loss, list(losses_lib.LOSSES))
    choice("dataset", config.dataset, list(data_lib.DATASETS))
    choice("schedule", config.schedule, list(SCHEDULES))
    choice("strategy", config.strategy, list(STRATEGIES))
    for flag in ("epochs", "batch_size", "eval_batch_size"):
        if getattr(config, flag) < 1:
            raise TrainingError(f"--{flag} must be >= 1, got {getattr(config, flag)}")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        raise TrainingError(f"--steps_per_epoch must be >= 1, got {config.steps_per_epoch}")
    if config.lr <= 0:
        raise TrainingError(f"--lr must be > 0, got {config.lr}")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise TrainingError(f"unknown --strategy={name!r}; valid choices: {', '.join(STRATEGIES)}")


# ------------------------------------------------------------ checkpoints

class _Checkpointer(keras.callbacks.Callback):
    """Saves model, optimizer and epoch at the end of every finished epoch."""

    def __init__(self, manager: tf.train.CheckpointManager, epoch_var: tf.Variable):
        super().__init__()
        self.manager, self.epoch_var = manager, epoch_var
        self.stopped_on_nan = False

    def on_epoch_begin(self, epoch, logs=None):
        self.model.epoch.assign(float(epoch))

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.stopped_on_nan = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_on_nan or any(not np.isfinite(float(v)) for v in (logs or {}).values()):
            self.stopped_on_nan = True
            self.model.stop_training = True
            return
        self.epoch_var.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (multi-worker: the chief only)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _checkpoint(trainer: EnsembleTrainer, epoch_var):
    return tf.train.Checkpoint(model=trainer.ensemble.checkpoint_variables(), optimizer=trainer.optimizer,
                               epoch=epoch_var)


def restore(checkpoint: tf.train.Checkpoint, checkpoint_dir: str) -> Optional[str]:
    """Restores the latest checkpoint in ``checkpoint_dir``, if any, and returns
    its path; a checkpoint that does not fit the model raises TrainingError."""
    path = tf.train.latest_checkpoint(checkpoint_dir)
    if not path:
        return False
    try:
        _check_model_keys(path, checkpoint.model)
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise TrainingError(
            f"checkpoint {path} does not match the model built from the flags: {str(e).splitlines()[0]}")
    return path


def _check_model_keys(path: str, model_variables: tf.train.Checkpoint) -> None:
    """Raises ValueError unless the checkpoint holds exactly the model's variables.

    A restore alone only checks that every model variable was found; this also
    catches a checkpoint of a bigger model (extra variables).
    """
    # Checkpoint keys escape "." as ".." and "/" as "./" inside a name.
    saved = {re.sub(r"\.(.)", r"\1", name.split("/")[1])
             for name, _ in tf.train.list_variables(path) if name.startswith("model/")}
    ours = set(model_variables._trackable_children()) - {"save_counter"}
    if saved != ours:
        missing, extra = sorted(ours - saved), sorted(saved - ours)
        raise ValueError(f"{len(missing)} model variables missing from the checkpoint {missing[:3]}, "
                         f"{len(extra)} not in the model {extra[:3]}")


# --------------------------------------------------------------- the job

def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _check_resume(config: TrainConfig, path: str) -> None:
    with open(path) as f:
        try:
            saved = json.load(f)
        except json.JSONDecodeError as e:
            raise TrainingError(f"{path} is not valid JSON ({e}); fix it or use a new --model_dir")
    for key in TrainConfig.IDENTITY:
        if key in saved and saved[key] != json.loads(json.dumps(getattr(config, key))):
            raise TrainingError(
                f"--model_dir holds a run with {key}={saved[key]!r}, but this command asks for "
                f"{getattr(config, key)!r}; use a new --model_dir or the same flags to resume")


def evaluate(ensemble: TreeEnsemble, dataset, num_batches: Optional[int] = None, verbose: int = 1) -> dict:
    """Evaluates every prefix on ``dataset`` of ``(images, labels)``; see EnsembleEvaluator."""
    predict = tf.function(lambda x: tf.cast(ensemble(x, training=False)["logits"], tf.float32))
    evaluator = EnsembleEvaluator(ensemble.num_leaves)
    bar = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch") if verbose else None
    for i, (x, y) in enumerate(dataset):
        evaluator.update(predict(x).numpy(), y.numpy())
        if bar:
            bar.update(i + 1)
    table = cost_table(ensemble)
    result = evaluator.result(macs=[p["macs"] for p in table["prefixes"]])
    result["unit"] = "MACs"
    result["anytime_step_macs"] = [s["macs"] for s in table["steps"]]
    return result


def plot_eval(result: dict, path: str, title: str) -> None:
    """Accuracy and logit std against MACs per ensemble size, and a bar per leaf
    (the layout of Fig. 4 and Fig. 9 of the AAAI paper)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["prefixes"]
    macs = np.array([r["macs"] for r in rows]) / 1e6
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = (macs[-1] - macs[0]) / (2 * len(macs)) if len(macs) > 1 else 1.0
    ax1.bar(macs, 100 * np.array(result["leaf_accuracy"]), width=width, alpha=0.35,
            label="leaf k alone")
    ax1.plot(macs, [100 * r["accuracy"] for r in rows], "o-", label="ensemble of leaves 1..k")
    shown = 100 * np.array(list(result["leaf_accuracy"]) + [r["accuracy"] for r in rows])
    ax1.set_ylim(max(0.0, shown.min() - 3.0), min(100.0, shown.max() + 1.5))  # zoom on the differences
    ax1.set_xlabel("MMACs per image")
    ax1.set_ylabel("test accuracy (%)")
    ax1.legend()
    ax1.set_title(title)
    ax2.plot(macs, [r["logit_std"] for r in rows], "o-")
    ax2.set_xlabel("MMACs per image")
    ax2.set_ylabel("std of logits across leaves")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_eval(result: dict) -> str:
    lines = [f"{'k':>3} {'MMACs':>9} {'acc %':>7} {'NLL':>7} {'ECE':>6} {'std':>6}"]
    for r in result["prefixes"]:
        lines.append(f"{r['k']:>3} {r['macs'] / 1e6:>9.2f} {100 * r['accuracy']:>7.2f} {r['nll']:>7.3f} "
                     f"{r['ece']:>6.3f} {r['logit_std']:>6.3f}")
    lines.append("leaf accuracy %: " + " ".join(f"{100 * a:.1f}" for a in result["leaf_accuracy"]))
    return "\n".join(lines)


def run(config: TrainConfig, log=print) -> dict:
    """Trains (resuming from ``config.model_dir``) and evaluates; returns eval.json's content."""
    validate(config)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    info = data_lib.dataset_info(config.dataset)
    strategy = make_strategy(config.strategy, config.tpu)
    # Data first: a missing dataset must fail before anything is written.
    train_ds = data_lib.load(config.dataset, "train", config.batch_size, data_dir=config.data_dir,
                             training=True, seed=config.seed, repeat=True, drop_remainder=True)
    test_ds = data_lib.load(config.dataset, "test", config.eval_batch_size, data_dir=config.data_dir,
                            take=config.eval_examples)
    with strategy.scope():
        ensemble = build_model(config.model, info.input_shape, info.num_classes, **config.model_options)
        try:
            loss_fn = losses_lib.get_loss(config.loss, ensemble.family, ensemble.num_leaves,
                                          **config.loss_options)
        except ValueError as e:
            raise TrainingError(str(e))
        trainer = EnsembleTrainer(ensemble, loss_fn, config.weight_decay, config.rampup_epochs)
        steps_per_epoch = config.steps_per_epoch or max(1, info.train_size // config.batch_size)
        schedule = PaperSchedule(config.schedule, config.lr, steps_per_epoch * config.epochs)
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov)
        if config.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer.compile(optimizer=optimizer)
        optimizer.build(ensemble.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    config_path = os.path.join(config.model_dir, "config.json")
    if os.path.exists(config_path):
        _check_resume(config, config_path)
    ckpt = _checkpoint(trainer, epoch_var)
    resumed = restore(ckpt, os.path.join(config.model_dir, "checkpoints"))
    if config.eval_only and not resumed:
        raise TrainingError(f"--eval_only needs a checkpoint in {config.model_dir}/checkpoints; none found")
    chief = is_chief(strategy)
    # Every worker saves (saving may take part in collectives); only the
    # chief saves into --model_dir.
    write_dir = config.model_dir if chief else tempfile.mkdtemp(prefix="hne_tf_worker_")
    manager = tf.train.CheckpointManager(ckpt, os.path.join(write_dir, "checkpoints"), max_to_keep=3)
    os.makedirs(write_dir, exist_ok=True)
    if chief:
        _write_json(config_path, config.to_json())
    log(f"model {config.model}: {ensemble.num_leaves} leaves, {ensemble.count_params():,} params, "
        f"{cost_table(ensemble)['full_macs'] / 1e6:.1f} MMACs per image (all leaves); "
        f"{strategy.num_replicas_in_sync} replica(s)")

    start_epoch = int(epoch_var.numpy())
    if resumed:
        log(f"resumed from {resumed} (epoch {start_epoch} done)")
    if not config.eval_only and start_epoch < config.epochs:
        checkpointer = _Checkpointer(manager, epoch_var)
        callbacks = [checkpointer,
                     keras.callbacks.TensorBoard(os.path.join(write_dir, "tensorboard"),
                                                 write_graph=False)]
        started = time.time()
        trainer.fit(train_ds, epochs=config.epochs, initial_epoch=start_epoch,
                    steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=1, shuffle=False)
        if checkpointer.stopped_on_nan:
            last = manager.latest_checkpoint or "none (no epoch finished)"
            raise TrainingError(f"the loss became NaN or Inf; training stopped. Last good checkpoint: {last}. "
                                "Try a lower --lr or --mixed_precision off.")
        log(f"trained epochs {start_epoch + 1}..{config.epochs} in {time.time() - started:.1f} s")
    elif not config.eval_only:
        log(f"all {config.epochs} epochs already done; evaluating")

    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
        log("trained as a non-chief worker; the chief evaluates and writes the run's files")
        return {}
    num_eval = math.ceil(min(config.eval_examples or info.test_size, info.test_size) / config.eval_batch_size)
    log(f"evaluating every ensemble size on the {config.dataset} test split")
    result = evaluate(ensemble, test_ds, num_batches=num_eval)
    result.update({"model": config.model, "loss": config.loss, "dataset": config.dataset,
                   "num_leaves": ensemble.num_leaves, "epochs_trained": int(epoch_var.numpy()),
                   "labels": list(info.labels)})
    _write_json(os.path.join(config.model_dir, "eval.json"), result)
    plot_eval(result, os.path.join(config.model_dir, "eval.png"), f"{config.model} / {config.loss}")
    with tf.summary.create_file_writer(os.path.join(config.model_dir, "tensorboard", "eval")).as_default():
        for r in result["prefixes"]:
            tf.summary.scalar(f"eval/accuracy_k{r['k']}", r["accuracy"], step=int(epoch_var.numpy()))
    log(format_eval(result))
    log(f"wrote {config.model_dir}/eval.json and eval.png")
    return result


def load_trained(model_dir: str) -> TreeEnsemble:
    """Rebuilds the ensemble of a ``train.py`` run and restores its latest weights.

    Raises TrainingError (with what to do) for a missing or incomplete
    ``model_dir`` and for a checkpoint that does not match its config.json.
    """
    if not os.path.isdir(model_dir):
        raise TrainingError(f"--model_dir {model_dir} does not exist")
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(config_path):
        raise TrainingError(f"{model_dir} has no config.json: not a train.py --model_dir")
    try:
        with open(config_path) as f:
            saved = json.load(f)
        model, dataset = saved["model"], saved["dataset"]
        options = saved.get("model_options") or {}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TrainingError(f"{config_path} is not a train.py config (needs model and dataset): {e!r}")
    try:
        info = data_lib.dataset_info(dataset)
        ensemble = build_model(model, info.input_shape, info.num_classes, **options)
    except (ValueError, TypeError) as e:
        raise TrainingError(f"{config_path} names a model that cannot be built: {e}")
    variables = ensemble.checkpoint_variables()
    path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if not path:
        raise TrainingError(f"{model_dir}/checkpoints holds no checkpoint: train first (train.py --model_dir="
                            f"{model_dir})")
    try:
        _check_model_keys(path, variables)
        tf.train.Checkpoint(model=variables).restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise TrainingError(f"checkpoint {path} does not match {config_path}: {str(e).splitlines()[0]}")
    return ensemble


__all__ = ["EnsembleTrainer", "PaperSchedule", "TrainConfig", "TrainingError", "evaluate", "load_trained",
           "run", "validate"]
