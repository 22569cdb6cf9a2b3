"""One training step on 1 replica and on 2 replicas (2 logical CPUs); prints JSON.

Run in its own process: logical devices must be set before TensorFlow starts.
"""
import json
import os
import sys

import tensorflow as tf

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import hne_tf  # noqa: E402
from hne_tf import losses, training  # noqa: E402

MODEL, LOSS = sys.argv[1], sys.argv[2]


def make(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = hne_tf.build_model(MODEL, (16, 16, 3), 5, **json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}"))
        fn = losses.get_loss(LOSS, model.family, model.num_leaves,
                             teacher=model.teacher_logits if losses.LOSSES[LOSS].uses_teacher else None)
        trainer = training.EnsembleTrainer(model, fn, weight_decay=5e-4)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return trainer


rng = np.random.default_rng(0)
x = rng.normal(size=(8, 16, 16, 3)).astype("float32")
y = (np.arange(8) % 5).astype("int32")
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

single = make(tf.distribute.get_strategy())
mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored = make(mirrored_strategy)
mirrored.ensemble.set_weights(single.ensemble.get_weights())
w0 = single.ensemble.get_weights()
h1 = single.fit(ds, epochs=1, verbose=0, shuffle=False).history
h2 = mirrored.fit(ds, epochs=1, verbose=0, shuffle=False).history
w1 = single.ensemble.get_weights()
w2 = mirrored.ensemble.get_weights()
print(json.dumps({
    "replicas": mirrored_strategy.num_replicas_in_sync,
    "loss": [h1["loss"][0], h2["loss"][0]],
    "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2, strict=True)),
    "max_update": max(float(np.abs(a - b).max()) for a, b in zip(w0, w1, strict=True)),
    "max_rel": max(float(np.abs(a - b).max() / max(np.abs(c - a).max(), 1e-12))
                   for a, b, c in zip(w1, w2, w0, strict=True)),
    "worst": sorted(((float(np.abs(a - b).max()), v.path) for a, b, v in
                     zip(w1, w2, single.ensemble.weights, strict=True)), reverse=True)[:4],
}))
