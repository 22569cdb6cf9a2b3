"""The layers of hne_tf.layers: every class through tests/layer_checks.py's checks (serialization, its
per-node reference in outputs and gradients, mixed precision); costs, group ranges and errors by hand;
TreeBatchNorm in training mode and subsample against numpy (float64)."""

import keras
import numpy as np
import pytest
import reference
import tensorflow as tf
from layer_checks import Case, check_layer, layer_classes
from model_checks import images as _images

from hne_tf import layers as L
from hne_tf.layers import kernels

# ---------------------------------------------------------------- every layer class

# Per layer class, the cases check_layer runs: tiny inputs (batch 4), two groups, channel counts that take
# the folded batch norm (not multiples of 8) and a strided 1x1 convolution, which takes the subsample. A new
# layer class needs an entry here and a reference in tests/reference.py
# (test_every_layer_class_has_a_case_and_a_reference).
CASES = {
    L.GroupedConv2D: [Case(lambda: L.GroupedConv2D(8, 3, 2, groups=2, use_bias=True), (4, 6, 6, 6)),
                      Case(lambda: L.GroupedConv2D(6, 1, 2, groups=2), (4, 6, 6, 4))],  # the subsample
    L.TreeDepthwiseConv2D: [Case(lambda: L.TreeDepthwiseConv2D(3, 2, groups=2), (4, 6, 6, 6))],
    L.TreeBatchNorm: [Case(lambda: L.TreeBatchNorm(groups=2), (4, 4, 4, 6)),  # folded: 6 channels, 4 pixels a row
                      Case(lambda: L.TreeBatchNorm(groups=2), (4, 3, 3, 16))],  # the plain fused kernel
    L.BranchReplicate: [Case(lambda: L.BranchReplicate(branch=2, groups=4), (4, 3, 3, 6))],
    L.TreeDense: [Case(lambda: L.TreeDense(3, groups=2, activation="relu6"), (4, 2, 5))],
    L.TreeConvBN: [Case(lambda: L.TreeConvBN(4, 3, 1, groups=2, branch=2), (4, 5, 5, 3))],
    L.TreeBottleneck: [Case(lambda: L.TreeBottleneck(8, 2, groups=2, branch=2, projection=True), (4, 6, 6, 4))],
    L.TreeBasicBlock: [Case(lambda: L.TreeBasicBlock(4, 1, groups=2), (4, 5, 5, 8))],  # identity shortcut
    L.TreeInvertedResidual: [Case(lambda: L.TreeInvertedResidual(4, 1, groups=2, expansion=2), (4, 5, 5, 8))],
    L.TreeHead: [Case(lambda: L.TreeHead(3, groups=2, hidden_units=5), (4, 3, 3, 8), output_dtype="float32")],
    L.GroupedBlock: [Case(lambda: L.GroupedBlock([L.TreeConvBN(4, 3, 2, 2, branch=2, name="split"),
                                                  L.TreeConvBN(4, 1, 1, 2, name="pointwise")]), (4, 6, 6, 3))],
    L.PerNodeBlock: [
        Case(lambda: L.PerNodeBlock([[L.TreeConvBN(4, 3, 1, 1, name="wide")],
                                     [L.TreeConvBN(3, 3, 1, 1, name="narrow")]], branch=2, input_widths=[5]),
             (4, 5, 5, 5)),
        Case(lambda: L.PerNodeBlock([[L.TreeHead(3, 1, name="head0")], [L.TreeHead(3, 1, name="head1")]], branch=1,
                                    input_widths=[4, 3], stack_outputs=True), (4, 3, 3, 7), output_dtype="float32"),
    ],
}


def test_every_layer_class_has_a_case_and_a_reference():
    classes = layer_classes()
    unexported = sorted(name for name, cls in classes.items() if getattr(L, name, None) is not cls)
    assert not unexported, f"hne_tf.layers (its __init__.py) does not export {unexported}"
    no_case = sorted(name for name, cls in classes.items() if cls not in CASES)
    assert not no_case, f"no case in tests/test_layers.py's CASES for {no_case}"
    assert set(CASES) <= set(classes.values()), "CASES names a class that hne_tf.layers no longer has"
    no_reference = sorted(name for name, cls in classes.items() if cls not in reference.REFERENCES)
    assert not no_reference, f"no per-node reference in tests/reference.py for {no_reference}"


# Keras warns that a composite layer without build() "has unbuilt state" when it rebuilds one from
# its config; its sublayers are built on the first call, and the loaded weights match.
@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer")
@pytest.mark.parametrize("case", [pytest.param(case, id=f"{cls.__name__}-{i}") for cls, cases in CASES.items()
                                  for i, case in enumerate(cases)])
def test_layer(case, tmp_path):
    check_layer(case, tmp_path)


def test_a_layer_class_without_a_reference_fails_loudly():
    class Unreferenced(L.TreeConvBN):  # a subclass, too, needs its own reference
        pass

    with pytest.raises(LookupError, match="no reference for Unreferenced"):
        reference.apply(Unreferenced(4), 0, None)


# ---------------------------------------------------------------- layers by hand

def test_grouped_conv_cost_by_hand():
    conv = L.GroupedConv2D(64, kernel_size=3, strides=2, groups=4)
    conv.build((None, 16, 16, 32))
    macs, params, hw = conv.group_cost((16, 16))
    assert hw == (8, 8)
    assert macs == 8 * 8 * 3 * 3 * 8 * 16
    assert params == 3 * 3 * 8 * 64 // 4


def _conv_against_keras(x, filters, kernel_size, strides, groups):
    """Our GroupedConv2D's output, checked against keras Conv2D(groups=...) with the same kernel."""
    ours = L.GroupedConv2D(filters, kernel_size, strides=strides, groups=groups)
    ref = keras.layers.Conv2D(filters, kernel_size, strides=strides, groups=groups, padding="same",
                              use_bias=False)
    y = ours(x)
    ref(x)
    ref.set_weights([ours.kernel.numpy()])
    np.testing.assert_allclose(y.numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)
    return ours, y


def test_grouped_conv_matches_keras_conv2d_groups():
    x = _images((8, 8, 12), batch=2)
    ours, y = _conv_against_keras(x, 24, 3, 2, 4)
    # A group range computes exactly those groups' outputs from their inputs.
    part = ours(x[..., 3:9], group_range=(1, 3)).numpy()
    np.testing.assert_allclose(part, y.numpy()[..., 6:18], rtol=1e-5, atol=1e-5)


def test_strided_pointwise_conv_equals_keras_conv2d():
    _conv_against_keras(_images((15, 16, 6), batch=3), 8, 1, 2, 2)


def test_branch_replicate_order_and_ranges():
    x = tf.reshape(tf.range(2 * 3, dtype=tf.float32), (1, 1, 1, 6))  # 2 groups of 3 channels
    rep = L.BranchReplicate(branch=2, groups=4)
    full = rep(x).numpy().ravel().tolist()
    assert full == [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]
    # Children 1..2 come from parents 0..1.
    assert rep(x, group_range=(1, 3)).numpy().ravel().tolist() == [0, 1, 2, 3, 4, 5]
    # Child 3 alone needs parent 1 alone.
    assert rep(x[..., 3:], group_range=(3, 4)).numpy().ravel().tolist() == [3, 4, 5]


def test_group_range_outside_layer_raises():
    conv = L.GroupedConv2D(8, groups=2)
    conv.build((None, 4, 4, 4))
    with pytest.raises(ValueError, match="outside"):
        conv(tf.zeros((1, 4, 4, 6)), group_range=(1, 3))


def test_identity_shortcut_shape_mismatch_is_explained():
    block = L.TreeBottleneck(32, strides=2, groups=1)
    with pytest.raises(ValueError, match="projection=True"):
        block(tf.zeros((1, 8, 8, 32)))


def test_batchnorm_training_updates_only_the_computed_groups():
    bn = L.TreeBatchNorm(groups=2, momentum=0.5)
    x = tf.constant(np.random.default_rng(1).normal(3.0, 1.0, (4, 2, 2, 4)).astype("float32"))
    bn(x)  # build
    bn(x[..., 2:], training=True, group_range=(1, 2))
    mean = bn.moving_mean.numpy()
    np.testing.assert_allclose(mean[:2], 0.0)
    np.testing.assert_allclose(mean[2:], 0.5 * x.numpy()[..., 2:].mean(axis=(0, 1, 2)), rtol=1e-5)


# ---------------------------------------------------------------- batch norm against numpy

EPS = 1e-5


def numpy_batch_norm(x, gamma, beta, dy):
    """Training-mode batch norm and its gradients, written out (float64).

    y = gamma * xhat + beta with xhat = (x - mean) / sqrt(var + eps), mean and
    (biased) var over batch and pixels; dx = gamma / std * (dy - mean(dy) -
    xhat * mean(dy * xhat)).
    """
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    std = np.sqrt(var + EPS)
    xhat = (x - mean) / std
    y = gamma * xhat + beta
    dgamma = (dy * xhat).sum(axis=(0, 1, 2))
    dbeta = dy.sum(axis=(0, 1, 2))
    dx = gamma / std * (dy - dy.mean(axis=(0, 1, 2)) - xhat * (dy * xhat).mean(axis=(0, 1, 2)))
    return y, dx, dgamma, dbeta, mean, var


# 23 and 90 channels take the folded path (k = 8 and 4), 24 the plain fused kernel,
# 7x7 pixels cannot be folded by 8 and fall back to it too.
@pytest.mark.parametrize("shape,fold", [((4, 8, 8, 23), 8), ((3, 4, 4, 90), 4), ((4, 8, 8, 24), 1),
                                        ((2, 7, 7, 23), 1)])
@pytest.mark.parametrize("folding", [False, True])  # the plain fused kernel, and the folded path (the default)
def test_batch_norm_training_matches_numpy(shape, fold, folding, monkeypatch):
    monkeypatch.setattr(L, "FOLD_ODD_CHANNELS", folding)
    rng = np.random.default_rng(0)
    c = shape[-1]
    # A mean far from zero and unequal scales per channel: a variance formula that cancels
    # badly, or statistics pooled across the wrong columns, would show.
    x = (rng.normal(size=shape) * rng.uniform(0.5, 3.0, c) + rng.uniform(-5, 5, c)).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.normal(size=c).astype(np.float32)
    layer = L.TreeBatchNorm(momentum=0.9, epsilon=EPS)
    layer.build(shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    assert kernels._fold_factor(tf.zeros(shape)) == fold

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y * dy)
    dx, dgamma, dbeta = tape.gradient(loss, [xt, layer.gamma.value, layer.beta.value])
    want_y, want_dx, want_dgamma, want_dbeta, mean, var = numpy_batch_norm(x, gamma, beta, dy)

    def close(got, want, what):
        # float32 rounding of sums over up to 256 values, relative to the largest entry.
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5 * np.abs(want).max(), err_msg=what)

    close(y, want_y, "y")
    close(dx, want_dx, "dx")
    close(dgamma, want_dgamma, "dgamma")
    close(dbeta, want_dbeta, "dbeta")
    # Moving averages: 0.9 * initial (0 and 1) + 0.1 * the batch's mean and biased variance.
    close(layer.moving_mean.numpy(), 0.1 * mean, "moving_mean")
    close(layer.moving_variance.numpy(), 0.9 + 0.1 * var, "moving_variance")


def test_folded_batch_norm_in_a_group_range_and_bfloat16(monkeypatch):
    monkeypatch.setattr(L, "FOLD_ODD_CHANNELS", True)
    """A slice of the groups (23 channels each) folds too; bfloat16 input stays bfloat16."""
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.5, (4, 8, 8, 46)).astype(np.float32)
    layer = L.TreeBatchNorm(groups=2)
    layer.build(x.shape)
    y = layer(tf.constant(x[..., 23:]), training=True, group_range=(1, 2))
    want = numpy_batch_norm(x[..., 23:], 1.0, 0.0, x[..., 23:])[0]
    np.testing.assert_allclose(y.numpy(), want, atol=1e-5 * np.abs(want).max())
    np.testing.assert_array_equal(layer.moving_mean.numpy()[:23], 0.0)  # group 0 untouched
    mixed = L.TreeBatchNorm(groups=2, dtype="mixed_bfloat16")
    mixed.build(x.shape)
    yb = mixed(tf.constant(x, tf.bfloat16)[..., 23:], training=True, group_range=(1, 2))
    assert mixed.gamma.dtype == "float32"
    assert yb.dtype == tf.bfloat16
    # bfloat16 rounds input and output to 8 significant bits: 2**-8 of |y| <= ~4, twice.
    np.testing.assert_allclose(tf.cast(yb, tf.float32).numpy(), want, atol=4e-2)


@pytest.mark.parametrize("folding", [False, True])
def test_fold_switch_is_read_from_the_package_at_call_time(folding, monkeypatch):
    """``hne_tf.layers.FOLD_ODD_CHANNELS`` lives on the package; TreeBatchNorm (in layers/primitives.py)
    reads it there when traced, so setting it on the package switches the folded path (a custom gradient:
    IdentityN) on or off."""
    monkeypatch.setattr(L, "FOLD_ODD_CHANNELS", folding)
    layer = L.TreeBatchNorm()
    layer.build((4, 8, 8, 23))
    fn = tf.function(lambda x: layer(x, training=True), autograph=False)
    ops = {op.type for op in fn.get_concrete_function(tf.TensorSpec((4, 8, 8, 23))).graph.get_operations()}
    assert ("IdentityN" in ops) == folding


# ---------------------------------------------------------------- subsample


def _subsample_and_grad(x, dy, strides, batch_known=True):
    def run(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = L.subsample(x, strides)
        return y, tape.gradient(y, x, output_gradients=dy)

    spec = [tf.TensorSpec((None if not batch_known else x.shape[0],) + tuple(x.shape[1:]), x.dtype),
            tf.TensorSpec((None if not batch_known else dy.shape[0],) + tuple(dy.shape[1:]), dy.dtype)]
    fn = tf.function(run, input_signature=spec)
    ops = {op.type for op in fn.get_concrete_function().graph.get_operations()}
    y, dx = fn(x, dy)
    return y.numpy(), dx.numpy(), ops


# (shape, strides): divisible shapes take the reshape path, 7x7 with stride 2 the strided slice.
@pytest.mark.parametrize("shape,strides,fast", [((3, 8, 8, 5), (2, 2), True), ((2, 6, 9, 4), (2, 3), True),
                                                ((2, 4, 6, 3), (1, 2), True), ((2, 7, 7, 3), (2, 2), False)])
@pytest.mark.parametrize("batch_known", [True, False])
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_subsample_and_its_gradient_match_numpy(shape, strides, fast, batch_known, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    sh, sw = strides
    out_shape = (shape[0], -(-shape[1] // sh), -(-shape[2] // sw), shape[3])
    dy = rng.standard_normal(out_shape).astype(np.float32)
    xt, dyt = tf.cast(x, dtype), tf.cast(dy, dtype)
    y, dx, ops = _subsample_and_grad(xt, dyt, strides, batch_known)
    x_seen = tf.cast(xt, tf.float32).numpy()
    dy_seen = tf.cast(dyt, tf.float32).numpy()
    want_dx = np.zeros(shape, np.float32)
    want_dx[:, ::sh, ::sw, :] = dy_seen  # the gradient of a subsample, written by hand
    np.testing.assert_array_equal(y.astype(np.float32), x_seen[:, ::sh, ::sw, :])
    np.testing.assert_array_equal(dx.astype(np.float32), want_dx)
    # The fast path must not fall back to TensorFlow's slow strided-slice gradient.
    assert ("StridedSliceGrad" in ops) != fast


@pytest.mark.parametrize("kernel_size, strides", [(1, 1), (3, 1), (3, 2)])
def test_per_group_gradient_matches_tensorflows_grouped_gradient(kernel_size, strides):
    """The fallback for a process without oneDNN: the same output and gradients, group by group."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 6, 6, 8)).astype("float32"))
    k = tf.constant(rng.normal(size=(kernel_size, kernel_size, 2, 12)).astype("float32"))  # 4 groups, 2 -> 3
    dy = tf.constant(rng.normal(size=(2, 6 // strides, 6 // strides, 12)).astype("float32"))
    results = []
    for conv in (lambda a, b: tf.nn.conv2d(a, b, (1, strides, strides, 1), "SAME"),
                 lambda a, b: kernels.grouped_conv2d_per_group_grad(a, b, strides)):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            y = conv(x, k)
        results.append([y, *tape.gradient(y, [x, k], output_gradients=dy)])
    for native, fallback in zip(*results, strict=True):
        np.testing.assert_allclose(fallback.numpy(), native.numpy(), rtol=1e-5, atol=1e-5)


ONEDNN_OFF = """
import tensorflow as tf                       # before hne_tf: hne_tf cannot ask for oneDNN any more
import numpy as np
from hne_tf import layers as L
from hne_tf.layers import kernels
if kernels.onednn_enabled():
    print("oneDNN is on by default on this CPU")
    raise SystemExit(0)
layer = L.GroupedConv2D(12, kernel_size=3, groups=4)
x = tf.constant(np.random.default_rng(0).normal(size=(2, 6, 6, 8)).astype("float32"))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(layer(x, training=True)))
dk = tape.gradient(loss, layer.kernel)
print("ok", float(tf.reduce_sum(tf.abs(dk))) > 0)
"""


@pytest.mark.parametrize("onednn_opts", [
    None,  # unset: TensorFlow imported first leaves oneDNN off on CPUs without AVX-512 VNNI or AMX: warn
    pytest.param("0", marks=pytest.mark.slow)])  # off on purpose: no warning; a TensorFlow process, ~10 s
def test_grouped_convolutions_train_in_a_process_without_onednn(onednn_opts):
    import os
    import subprocess
    import sys

    from hne_tf.layers.kernels import WITHOUT_ONEDNN

    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if onednn_opts is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn_opts
    r = subprocess.run([sys.executable, "-c", ONEDNN_OFF], capture_output=True, text=True, env=env, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr[-2000:]
    if "on by default" in r.stdout:
        pytest.skip("TensorFlow turns oneDNN on by itself on this CPU: there is no fallback to test")
    assert r.stdout.strip().endswith("ok True"), r.stdout + r.stderr[-2000:]
    warned = r.stderr.count(WITHOUT_ONEDNN)
    assert warned == (0 if onednn_opts == "0" else 1), r.stderr[-2000:]
