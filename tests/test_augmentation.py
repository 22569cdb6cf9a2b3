"""Training augmentation modes of hne_tf.data.load: standard, flip only, none."""

import numpy as np
import pytest

from hne_tf import data


def _train_and_eval(augmentation, name="synthetic", n=48):
    eval_x = np.concatenate([x.numpy() for x, _ in data.load(name, "train", n, take=n)])
    ds = data.load(name, "train", n, training=True, seed=3, take=n, augmentation=augmentation)
    train_x = np.concatenate([x.numpy() for x, _ in ds])
    return train_x, eval_x


def _match(image, candidates):
    """Index of the candidate equal to ``image`` (up to float rounding), else None."""
    diff = np.abs(candidates - image[None]).reshape(len(candidates), -1).max(axis=1)
    best = int(np.argmin(diff))
    return best if diff[best] < 1e-5 else None


def test_none_only_shuffles():
    train_x, eval_x = _train_and_eval("none")
    found = [_match(x, eval_x) for x in train_x]
    assert None not in found
    assert sorted(found) == list(range(len(eval_x)))   # a permutation: every example once
    assert found != list(range(len(eval_x)))           # and shuffled


def test_flip_only_mirrors():
    train_x, eval_x = _train_and_eval("flip")
    mirrored = eval_x[:, :, ::-1, :]
    plain = [_match(x, eval_x) for x in train_x]
    flipped = [_match(x, mirrored) for x in train_x]
    # Every image is an example as it is or mirrored (synthetic templates are not mirror-symmetric).
    assert all(p is not None or f is not None for p, f in zip(plain, flipped, strict=True))
    assert sum(f is not None and p is None for p, f in zip(plain, flipped, strict=True)) > 0


def test_standard_crops():
    train_x, eval_x = _train_and_eval("standard")
    # Random crops shift most images: some training image equals no example (nor its mirror).
    unmatched = [x for x in train_x if _match(x, eval_x) is None and _match(x, eval_x[:, :, ::-1, :]) is None]
    assert len(unmatched) > len(train_x) // 2


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="augmentation must be one of 'standard', 'flip', 'none', got 'crop'"):
        data.load("synthetic", "train", 8, training=True, augmentation="crop")
