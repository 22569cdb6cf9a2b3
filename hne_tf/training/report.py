"""What a run reports: the evaluation of every ensemble size (``eval.json``), its plot
(``eval.png``) and its text table."""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from hne_tf.cost import cost_table
from hne_tf.metrics import EnsembleEvaluator
from hne_tf.models import TreeEnsemble

_PREDICT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _predict_function(ensemble: TreeEnsemble):  # noqa: ANN202 (a tf.function)
    """The ensemble's evaluation forward pass as one ``tf.function``, traced once per ensemble (a run
    evaluates after every epoch)."""
    if ensemble not in _PREDICT:
        def forward(x) -> dict[str, tf.Tensor]:
            outputs = ensemble(x, training=False)
            out = {"logits": tf.cast(outputs["logits"], tf.float32)}
            teacher = ensemble.teacher_logits(outputs)
            if teacher is not None:
                out["teacher"] = tf.cast(teacher, tf.float32)
            return out

        _PREDICT[ensemble] = tf.function(forward)
    return _PREDICT[ensemble]


def evaluate(ensemble: TreeEnsemble, dataset, num_batches: int | None = None, verbose: int = 1) -> dict:
    """Evaluates every prefix on ``dataset`` of ``(images, labels)`` under the model's ensemble rule
    (``ensemble.ensemble_rule``, recorded as ``"ensemble_rule"``); see EnsembleEvaluator.

    For a family with its own teacher (``ensemble.teacher_logits`` is not None:
    ONE's gated teacher, the paper's "ONE-E", ONE Table 5) the result also has
    ``"teacher"``: accuracy, nll, ece and macs (every leaf plus the gate:
    ``cost_table(ensemble)["teacher"]``, the figure the export's teacher file carries).
    """
    predict = _predict_function(ensemble)
    evaluator = EnsembleEvaluator(ensemble.num_leaves, rule=ensemble.ensemble_rule)
    bar = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch") if verbose else None
    for i, (x, y) in enumerate(dataset):
        out = predict(x)
        teacher = out.get("teacher")
        evaluator.update(out["logits"].numpy(), y.numpy(), None if teacher is None else teacher.numpy())
        if bar:
            bar.update(i + 1)
    table = cost_table(ensemble)
    teacher_macs = table.get("teacher", {}).get("macs", table["full_macs"])
    result = evaluator.result(macs=[p["macs"] for p in table["prefixes"]], teacher_macs=teacher_macs)
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
    if "teacher" in result:  # ONE's gated teacher (ONE-E), every leaf
        t = result["teacher"]
        macs = f"{t['macs'] / 1e6:>9.2f}" if "macs" in t else f"{'':>9}"
        lines.append(f"{'T':>3} {macs} {100 * t['accuracy']:>7.2f} {t['nll']:>7.3f} {t['ece']:>6.3f} "
                     f"{'':>6}  (gated teacher)")
    lines.append("leaf accuracy %: " + " ".join(f"{100 * a:.1f}" for a in result["leaf_accuracy"]))
    return "\n".join(lines)
