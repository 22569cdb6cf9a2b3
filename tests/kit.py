"""Shared test kit: train and export the tiny models the export and demo tests read.

Session-scoped fixtures (in ``conftest.py``) build each of these once per test
run: a tiny HNE (width 1/4 of Table 2's tree, 16 leaves) trained for 60 steps
on the synthetic data set, its float32 + int8 export, and the demo assets
(sample PNGs and the decision fixture) made from that export.
"""

import os

from export.exporter import ExportConfig, run_export
from hne_tf.training import TrainConfig
from hne_tf.training import run as train_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HNE_OPTIONS = {"width": 0.25}


def train(model_dir, model, loss, steps, options=None):
    config = TrainConfig(model=model, loss=loss, dataset="synthetic", model_dir=str(model_dir), epochs=1,
                         steps_per_epoch=steps, batch_size=32, eval_examples=64, eval_batch_size=64, lr=0.05,
                         model_options=dict(options or {}))
    train_run(config, log=lambda *_: None)
    return model_dir


def export(run_dir, out_dir, **kw):
    config = ExportConfig(model_dir=str(run_dir), out_dir=str(out_dir), eval_examples=256, parity_examples=64,
                          calibration_images=64, latency_runs=20, **kw)
    return run_export(config, log=lambda *_: None)
