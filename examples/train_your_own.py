"""Train a tree ensemble on your own tf.data pipeline with the Python API, export it and run it anytime.

  python3 examples/train_your_own.py --out=/tmp/hne_example

The data here is a stand-in made in memory (three classes of coloured noise, 24x24 RGB, raw 0..255
pixels): replace ``make_data`` with your own ``tf.data.Dataset`` of ``(image, label)``. Then the
same calls train, save, export (``<out>/run_tflite/manifest.json`` and its ``.tflite`` files) and
classify one test image leaf by leaf with the host anytime engine.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As importing hne_tf does, before TensorFlow starts: CPUs without AVX-512 need oneDNN for grouped-conv gradients.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import hne_tf  # noqa: E402
from hne_tf import api  # noqa: E402
from hne_tf.export.anytime import AnytimeEngine, StoppingRule  # noqa: E402

LABELS = ["red", "green", "blue"]


def make_data(n: int, seed: int) -> tf.data.Dataset:
    """``n`` (uint8 image [24, 24, 3], label) pairs: a class's colour plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(LABELS), n)
    base = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])[labels][:, None, None, :]
    images = np.clip(base + rng.normal(0, 40, (n, 24, 24, 3)), 0, 255).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices((images, labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/hne_example", help="a new folder for the run and its export")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="hne_resnet_tiny")
    parser.add_argument("--branching", default="1,2,2,2,2", help="the tree (hne_resnet presets)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    train, test = make_data(512, seed=0), make_data(128, seed=1)

    spec = api.input_spec(train)  # size and channels of the images, per-channel mean and std
    model = hne_tf.build_model(args.model, spec.input_shape, num_classes=len(LABELS),
                               branching=[int(b) for b in args.branching.split(",")])
    trainer = api.EnsembleTrainer(model, "hierarchical_distillation", weight_decay=5e-4)
    trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    trainer.fit(api.batches(train, spec, 32, shuffle=True), epochs=args.epochs, verbose=2)
    scores = trainer.evaluate(api.batches(test, spec, 64), return_dict=True, verbose=0)
    print(f"test accuracy: k=1 {scores['acc_k1']:.3f}, k={model.num_leaves} {scores[f'acc_k{model.num_leaves}']:.3f}")

    run_dir = api.save_run(os.path.join(args.out, "run"), trainer, spec, LABELS, train=train, test=test,
                           epochs=args.epochs)
    manifest = api.export(run_dir, precisions=["float32"], prefixes=[1], eval_examples=64, parity_examples=8,
                          latency_runs=2, max_anytime_size_ratio=3.0, log=lambda *_: None)
    out_dir = run_dir + "_tflite"
    print(f"exported {len(manifest['files'])} files to {out_dir}; labels {manifest['labels']}")

    engine = AnytimeEngine(out_dir)
    image, label = next(iter(api.batches(test, spec, 1)))
    result = engine.classify(image.numpy()[0], StoppingRule("leaves", 2))
    print(f"one test image ({LABELS[int(label[0])]}): {manifest['labels'][result.label]} after {result.steps} "
          f"leaves, {result.elapsed_ms:.2f} ms")


if __name__ == "__main__":
    main()
