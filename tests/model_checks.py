"""One set of checks that every preset goes through (keras-hub's run_backbone_test idea).

:func:`check_model` builds a preset and checks, each against an independent
expectation:

- forward: logits ``[batch, N, classes]``; each extra fills its own output
  key with the documented shape (found by role, not by family);
- prefix: ``prefix(k)`` equals the first ``k`` leaves of the full model, for
  every ``k`` up to 8 leaves and a sample of them beyond (:func:`sampled_ks`);
- anytime: the steps, run with their cache, equal the full model leaf by leaf;
- members: each leaf alone (``member_logits``) equals its column of the full model (the same sample);
- config and ``.keras`` round trip: the loaded model has the same config and
  bit-identical outputs (loading rebuilds the model from its config);
- mixed precision: freshly built weights under ``mixed_float16`` compute in
  float16 and give the float32 logits to within float16 rounding.
"""

import keras
import numpy as np
import tensorflow as tf
from reference import randomize_batchnorm

import hne_tf


def _tol(full) -> dict:
    # The same sums in another order (a slice of a grouped kernel, one node at a time): float32
    # rounding, which grows with the logits' scale (about 1e-6 of it in the deep presets).
    return dict(rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(full).max())))


def images(shape, batch=3, seed=0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).normal(size=(batch,) + tuple(shape)).astype("float32"))


def check_forward(model, x) -> dict:
    out = model(x)
    n, c = model.num_leaves, model.num_classes
    assert out["logits"].shape == (x.shape[0], n, c)
    assert set(out) == {"logits"} | {e.output for e in model.extras}
    teacher = model.extra("teacher")
    if teacher is not None:
        gate = out[teacher.output].numpy()
        assert gate.shape == (x.shape[0], n)
        np.testing.assert_allclose(gate.sum(-1), 1.0, rtol=1e-5)
        assert model.teacher_logits(out).shape == (x.shape[0], c)
    else:
        assert model.teacher_logits(out) is None
    adapters = model.extra("feature_adapter")
    if adapters is not None:
        features = out[adapters.output]
        assert len(features) == len(adapters.reads)
        for f in features:
            assert f.shape[:2] == (x.shape[0], n)
    return out


def sampled_ks(n: int) -> list[int]:
    """Every k up to 8 leaves; beyond, the ends and the middle of the tree (1-4, n/2, n/2 + 1, n-1, n), where an
    off-by-one in slicing a prefix or a member out of the grouped kernels would show (16 leaves: 8 of 16 k)."""
    if n <= 8:
        return list(range(1, n + 1))
    return sorted({1, 2, 3, 4, n // 2, n // 2 + 1, n - 1, n})


def check_prefixes(model, x, full):
    for k in sampled_ks(model.num_leaves):
        out = model.prefix(k)(x).numpy()
        assert out.shape == (x.shape[0], k, model.num_classes)
        np.testing.assert_allclose(out, full[:, :k], **_tol(full), err_msg=f"{model.name} k={k}")


def check_anytime(model, x, full):
    runs = list(model.iter_anytime(x))
    assert [r.step.step for r in runs] == list(range(1, model.num_leaves + 1))
    np.testing.assert_allclose(np.stack([r.logits.numpy() for r in runs], axis=1), full, **_tol(full))
    np.testing.assert_allclose(model.run_anytime(x).numpy(), full, **_tol(full))


def check_members(model, x, full):
    for leaf in (k - 1 for k in sampled_ks(model.num_leaves)):
        np.testing.assert_allclose(model.member_logits(x, leaf).numpy(), full[:, leaf], **_tol(full),
                                   err_msg=f"{model.name} member {leaf}")


def check_save_load(model, x, path):
    model.save(str(path))
    loaded = keras.saving.load_model(str(path), safe_mode=True)
    assert isinstance(loaded, hne_tf.TreeEnsemble)
    assert loaded.get_config() == model.get_config()
    a, b = model(x), loaded(x)
    assert a.keys() == b.keys()
    for key in a:
        for u, v in zip(tf.nest.flatten(a[key]), tf.nest.flatten(b[key]), strict=True):
            np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=key)


def check_mixed_precision(model, x):
    """Fresh weights: the randomized BN statistics of the other checks blow deep presets'
    activations past float16's range (65504), which trained or freshly built models stay far below."""
    reference = hne_tf.TreeEnsemble.from_config(model.get_config())
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = hne_tf.TreeEnsemble.from_config(model.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    mixed.set_weights(reference.get_weights())
    assert mixed.tree_blocks[0].compute_dtype == "float16"
    full = reference(x)["logits"].numpy()
    logits = tf.cast(mixed(x)["logits"], tf.float32).numpy()
    assert np.isfinite(logits).all()
    # float16 keeps ~3 decimal digits and errors grow with depth: compare to the logits' scale.
    scale = np.abs(full).max() + 1.0
    np.testing.assert_allclose(logits, full, atol=2e-2 * scale)


def check_model(name, tmp_path, input_shape=(16, 16, 3), num_classes=5, batch=3, model=None):
    """Runs every check on preset ``name`` (or on ``model``, built from it)."""
    if model is None:
        model = hne_tf.build_model(name, input_shape=input_shape, num_classes=num_classes)
        randomize_batchnorm(model)
    x = images(model.image_shape, batch=batch)
    full = check_forward(model, x)["logits"].numpy()
    check_prefixes(model, x, full)
    check_anytime(model, x, full)
    check_members(model, x, full)
    check_save_load(model, x, tmp_path / f"{name}.keras")
    check_mixed_precision(model, x)
    return model
