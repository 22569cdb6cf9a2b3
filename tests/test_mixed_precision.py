"""bfloat16 mixed precision (hne_tf/precision.py) on CPU: dtypes, logits and one train step against float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import hne_tf
from hne_tf import losses as losses_lib
from hne_tf import precision, training
from tests.model_checks import images

SHAPE, CLASSES = (16, 16, 3), 5


@pytest.fixture
def policy():
    """Restores the global dtype policy after the test, whatever it did."""
    previous = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(previous)


def _pair(name="hne_resnet_tiny"):
    """A float32 model and a bfloat16-policy model of preset ``name`` holding the same weights."""
    # Seeded: with some draws a tiny tree's features die (ReLU), the logits are the classifier's
    # bias alone, and both models agree exactly; the result must not depend on earlier tests' RNG use.
    keras.utils.set_random_seed(7)
    reference = hne_tf.build_model(name, SHAPE, CLASSES)
    previous = precision.apply("bfloat16")
    try:
        mixed = hne_tf.build_model(name, SHAPE, CLASSES)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    mixed.set_weights(reference.get_weights())
    return reference, mixed


def test_unknown_mode_names_the_valid_ones(policy):
    before = keras.mixed_precision.global_policy().name
    with pytest.raises(ValueError, match=r"--mixed_precision='bf16' is not one of: off, float16, bfloat16"):
        precision.apply("bf16")
    assert keras.mixed_precision.global_policy().name == before  # nothing changed


def test_modes_set_the_policy_and_only_float16_scales_the_loss(policy):
    assert precision.apply("bfloat16") == "float32"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert precision.apply("float16") == "mixed_bfloat16"
    assert precision.apply("off") == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "float32"
    assert [precision.compute_dtype(m) for m in precision.MODES] == ["float32", "float16", "bfloat16"]
    sgd = keras.optimizers.SGD(0.1)
    assert precision.wrap_optimizer(sgd, "off") is sgd
    assert precision.wrap_optimizer(sgd, "bfloat16") is sgd
    assert isinstance(precision.wrap_optimizer(sgd, "float16"), keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize("name", ["hne_resnet_tiny", "hne_mobilenetv2_tiny"])
def test_bfloat16_forward_matches_float32(policy, name):
    reference, mixed = _pair(name)
    assert all(v.dtype == "float32" for v in mixed.variables)
    x = images(SHAPE, batch=4)
    block = mixed.tree_blocks[1]
    assert block(mixed.tree_blocks[0](x)).dtype == tf.bfloat16  # activations in bfloat16
    full = reference(x)["logits"].numpy()
    logits = mixed(x)["logits"]
    assert logits.dtype == tf.float32  # the classifier runs in float32
    logits = logits.numpy()
    # bfloat16 keeps 8 significant bits: each rounding is off by up to 2**-9 = 0.2% relative, and
    # ~20 layers of them add up. Measured against the logits' scale (as tests/model_checks.py does
    # for float16) over repeated runs: the largest error 0.4% (ResNet) and 2.5-3.5% (the MobileNet
    # tree, whose tiny logits sit near zero), the mean error 0.04% and 0.3%. Bounds: 8% for the
    # largest, 1% for the mean; a model left in float32 fails the last assert, and one layer
    # computing garbage moves the mean error to the order of the scale.
    scale = np.abs(full).max()
    assert scale > 0.1
    error = np.abs(logits - full)
    assert error.max() <= 8e-2 * scale, (error.max(), scale)
    assert error.mean() <= 1e-2 * scale, (error.mean(), scale)
    assert np.abs(logits - full).max() > 1e-6 * scale  # and it really was not computed in float32


def _cosine(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_bfloat16_train_step_follows_float32(policy):
    keras.utils.set_random_seed(1)
    reference, mixed = _pair()
    x = tf.convert_to_tensor(images(SHAPE, batch=8))
    y = tf.constant([0, 1, 2, 3, 4, 0, 1, 2])
    fn = losses_lib.get_loss("hierarchical_distillation", reference.family, reference.num_leaves)

    def gradients(model):
        trainer = training.EnsembleTrainer(model, fn, weight_decay=0.0)
        trainer.compile(optimizer=precision.wrap_optimizer(keras.optimizers.SGD(0.05), "bfloat16"))
        trainer.optimizer.build(model.trainable_variables)
        grads, variables, *_ = trainer.compute_gradients(x, y)
        pairs = zip(grads, variables, strict=True)
        return trainer, {v.path.split("/", 1)[1]: tf.reshape(g, [-1]).numpy() for g, v in pairs}

    _, want = gradients(reference)
    trainer, got = gradients(mixed)
    assert want.keys() == got.keys()
    flat = lambda d, keys: np.concatenate([d[k] for k in keys])  # noqa: E731
    head = [k for k in want if k.startswith("head/")]
    # The classifier's gradient sees float32 logits and bfloat16 features: it agrees closely.
    assert _cosine(flat(want, head), flat(got, head)) > 0.99
    # Deeper down, bfloat16's 2**-9 rounding is amplified by the backward pass through ~20
    # training-mode batch norms over 8 images (float16, 3 more mantissa bits, gives cosines
    # 0.96-0.99 on this test; bfloat16 0.76-0.91 across seeds 0-3, with BN in float32 no
    # better). A sign error or a dropped layer gradient gives ~0 or below.
    everything = sorted(want)
    assert _cosine(flat(want, everything), flat(got, everything)) > 0.6

    before = [v.numpy() for v in mixed.trainable_variables]
    logs = trainer.train_step((x, y))
    assert np.isfinite(float(logs["loss"]))
    moved = [not np.array_equal(b, v.numpy()) for b, v in zip(before, mixed.trainable_variables, strict=True)]
    assert all(moved), [v.path for v, m in zip(mixed.trainable_variables, moved, strict=True) if not m]
    assert all(v.dtype == "float32" for v in mixed.variables)


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="the float32 gradient is CPU-only")
@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_strided_depthwise_low_precision_gradients_match_float32(dtype):
    """A stride-2 depthwise layer in bfloat16/float16 computes its input gradient in float32.

    Expected values: TensorFlow's float32 depthwise kernels on the same (low-precision-rounded)
    inputs, the upstream gradient and the kernel; the forward output and the filter gradient are
    TensorFlow's own low-precision ones.
    """
    from hne_tf.layers import TreeDepthwiseConv2D

    layer = TreeDepthwiseConv2D(3, 2, groups=2, dtype="mixed_" + dtype.name)
    rng = np.random.default_rng(5)
    x = tf.cast(rng.standard_normal((3, 8, 8, 6)), dtype)
    dy = tf.cast(rng.standard_normal((3, 4, 4, 6)), dtype)
    layer.build(x.shape)

    def run(x, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
        dx, dk = tape.gradient(y, [x, layer.kernel], output_gradients=dy)
        return y, dx, dk

    graph = tf.function(run).get_concrete_function(tf.TensorSpec(x.shape, dtype), True).graph
    backprop = [op for op in graph.get_operations() if op.type == "DepthwiseConv2dNativeBackpropInput"]
    assert [op.get_attr("T") for op in backprop] == [tf.float32]

    y, dx, dk = run(x, True)
    kernel = tf.cast(layer.kernel, dtype)
    k32 = tf.cast(kernel, tf.float32)
    want_dx = tf.compat.v1.nn.depthwise_conv2d_native_backprop_input(
        x.shape, k32, tf.cast(dy, tf.float32), [1, 2, 2, 1], "SAME")
    assert dx.dtype == dtype
    np.testing.assert_allclose(tf.cast(dx, tf.float32).numpy(), tf.cast(tf.cast(want_dx, dtype), tf.float32).numpy(),
                               rtol=0, atol=1e-6)
    want_y = tf.nn.depthwise_conv2d(x, kernel, [1, 2, 2, 1], "SAME")
    np.testing.assert_array_equal(tf.cast(y, tf.float32).numpy(), tf.cast(want_y, tf.float32).numpy())
    # The filter gradient: float32 kernels on the rounded inputs, to the low precision's rounding.
    want_dk = tf.compat.v1.nn.depthwise_conv2d_native_backprop_filter(
        tf.cast(x, tf.float32), k32.shape, tf.cast(dy, tf.float32), [1, 2, 2, 1], "SAME")
    np.testing.assert_allclose(dk.numpy(), want_dk.numpy(), rtol=0, atol=0.05 * np.abs(want_dk).max())
    # Inference traces the plain op (no custom gradient), as the export needs.
    inference = tf.function(lambda t: layer(t, training=False)).get_concrete_function(
        tf.TensorSpec(x.shape, dtype)).graph
    assert "IdentityN" not in {op.type for op in inference.get_operations()}
