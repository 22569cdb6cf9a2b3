"""Input pipelines: real Fashion-MNIST IDX files, CIFAR/ImageNet on TFDS mock data,
the synthetic task, and the errors that tell users how to get missing data."""

import gzip
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from hne_tf import data as D

REAL_FASHION = all(os.path.isfile(os.path.join(D.FASHION_MNIST_DIR, f + ".gz"))
                   for pair in D._IDX_FILES.values() for f in pair)
needs_fashion = pytest.mark.skipif(not REAL_FASHION, reason="Fashion-MNIST IDX files not installed "
                                   "(apt-get install dataset-fashion-mnist)")


def _batches(ds):
    """All batches of ``ds`` as numpy ``(images, labels)`` lists."""
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _pixels(images, info):
    """Undo the normalization: normalized float32 -> uint8 pixels."""
    return np.round((images * np.array(info.std) + np.array(info.mean)) * 255).astype(np.int32)


def _idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed uint8 IDX file holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _write_fashion(directory, split, images, labels, compress=True):
    img, lab = D._IDX_FILES[split]
    for stem, arr in ((img, images), (lab, labels)):
        raw = _idx_bytes(arr)
        path = os.path.join(directory, stem + (".gz" if compress else ""))
        with open(path, "wb") as f:
            f.write(gzip.compress(raw) if compress else raw)


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("call", [lambda: D.dataset_info("mnist"), lambda: D.load("mnist", "train", 8)])
def test_unknown_dataset_lists_valid_names(call):
    with pytest.raises(ValueError) as e:
        call()
    for name in D.DATASETS:
        assert name in str(e.value)


def test_bad_split_and_source():
    with pytest.raises(ValueError, match="split 'validation' needs validation_examples"):
        D.load("synthetic", "validation", 8)
    with pytest.raises(ValueError, match="split"):
        D.load("synthetic", "val", 8)
    with pytest.raises(ValueError, match=r"validation_examples must be an integer in \[0, 2048\)"):
        D.load("synthetic", "train", 8, validation_examples=2048)
    with pytest.raises(ValueError, match="source"):
        D.load("cifar10", "train", 8, source="idx")


def test_dataset_info_shapes_and_constants():
    expected = {"fashion_mnist": ((28, 28, 1), 10, 60000, 10000), "cifar10": ((32, 32, 3), 10, 50000, 10000),
                "cifar100": ((32, 32, 3), 100, 50000, 10000),
                "imagenet2012": ((224, 224, 3), 1000, 1281167, 50000), "synthetic": ((28, 28, 1), 10, 2048, 512)}
    for name, (shape, classes, train, test) in expected.items():
        info = D.dataset_info(name)
        assert (info.input_shape, info.num_classes, info.train_size, info.test_size) == (shape, classes, train, test)
        assert len(info.labels) == classes and len(set(info.labels)) == classes
        assert len(info.mean) == len(info.std) == shape[2]
        assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)
    assert D.dataset_info("fashion_mnist").labels[0] == "T-shirt/top"
    assert D.dataset_info("fashion_mnist").labels[9] == "Ankle boot"
    assert D.dataset_info("cifar10").labels[0] == "airplane"
    assert D.dataset_info("imagenet2012", image_size=128).input_shape == (128, 128, 3)
    assert D.dataset_info("synthetic", image_size=(16, 12, 3)).input_shape == (16, 12, 3)
    with pytest.raises(ValueError):
        D.dataset_info("cifar10", image_size=64)


# ----------------------------------------------------------------------------- Fashion-MNIST, real files


@needs_fashion
def test_fashion_test_split_shapes_labels_normalization():
    info = D.dataset_info("fashion_mnist")
    batches = _batches(D.load("fashion_mnist", "test", 1000))
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (info.test_size, 28, 28, 1) and images.dtype == np.float32
    assert labels.dtype == np.int32 and labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels).tolist() == [1000] * 10
    assert abs(images.mean()) < 0.05 and abs(images.std() - 1) < 0.05
    assert abs(batches[0][0].mean()) < 0.15
    assert images.min() == pytest.approx(-info.mean[0] / info.std[0], abs=1e-5)


@needs_fashion
def test_fashion_take_and_remainder():
    eval_sizes = [len(y) for _, y in _batches(D.load("fashion_mnist", "train", 32, take=100))]
    assert eval_sizes == [32, 32, 32, 4]
    train_sizes = [len(y) for _, y in _batches(D.load("fashion_mnist", "train", 32, take=100, training=True))]
    assert train_sizes == [32, 32, 32]  # training drops the remainder by default
    # Fewer examples than one batch: the partial batch is kept rather than an empty epoch.
    assert [len(y) for _, y in _batches(D.load("fashion_mnist", "train", 32, take=10, training=True))] == [10]
    repeated = D.load("fashion_mnist", "train", 32, take=40, training=True, repeat=True)
    assert len(_batches(repeated.take(5))) == 5


@needs_fashion
def test_fashion_training_augmentation_is_pad_crop_flip():
    info = D.dataset_info("fashion_mnist")
    n = 16
    (orig, orig_labels), = _batches(D.load("fashion_mnist", "train", n, take=n))
    (aug, aug_labels), = _batches(D.load("fashion_mnist", "train", n, take=n, training=True, seed=3))
    assert aug.shape == orig.shape == (n, 28, 28, 1) and aug.dtype == np.float32
    assert sorted(aug_labels) == sorted(orig_labels)
    orig_px, aug_px = _pixels(orig, info), _pixels(aug, info)
    padded = np.pad(orig_px, [(0, 0), (2, 2), (2, 2), (0, 0)])
    candidates = {}  # every shift / mirror of every original: what augmentation may produce
    for dy in range(5):
        for dx in range(5):
            crop = padded[:, dy:dy + 28, dx:dx + 28]
            for flip in (False, True):
                view = crop[:, :, ::-1] if flip else crop
                for i in range(n):
                    candidates.setdefault(view[i].tobytes(), set()).add((orig_labels[i], (dy, dx, flip)))
    transforms = []
    for img, label in zip(aug_px, aug_labels, strict=True):
        matches = [t for lab, t in candidates.get(img.tobytes(), ()) if lab == label]
        assert matches, "an augmented image is not a 2-pixel shift / mirror of a training image"
        transforms.append(matches)
    assert any((2, 2, False) not in t for t in transforms), "augmentation changed nothing"
    again = _batches(D.load("fashion_mnist", "train", n, take=n, training=True, seed=3))[0][0]
    other = _batches(D.load("fashion_mnist", "train", n, take=n, training=True, seed=4))[0][0]
    np.testing.assert_array_equal(again, aug)
    assert not np.array_equal(other, aug)


@needs_fashion
def test_fashion_representative_images_are_unaugmented_training_images():
    info = D.dataset_info("fashion_mnist")
    reps = D.representative_images("fashion_mnist", 32, seed=1)
    assert reps.shape == (32, 28, 28, 1) and reps.dtype == np.float32
    train, _ = D.read_fashion_mnist(D.FASHION_MNIST_DIR, "train")
    known = {img.astype(np.int32).tobytes() for img in train}
    assert all(img.tobytes() in known for img in _pixels(reps, info))
    np.testing.assert_array_equal(reps, D.representative_images("fashion_mnist", 32, seed=1))
    assert not np.array_equal(reps, D.representative_images("fashion_mnist", 32, seed=2))


# ----------------------------------------------------------------------------- Fashion-MNIST, files and errors


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_idx_from_data_dir(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    labels = np.array([0, 3, 9, 1, 2, 3], np.uint8)
    _write_fashion(tmp_path, "test", images, labels, compress=compress)
    info = D.dataset_info("fashion_mnist")
    (x, y), = _batches(D.load("fashion_mnist", "test", 8, data_dir=str(tmp_path)))
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(_pixels(x, info)[..., 0], images)
    # data_dir holds IDX files, so a split missing there is an error, not a silent fallback.
    with pytest.raises(D.DataError, match="train-images-idx3-ubyte.gz"):
        D.load("fashion_mnist", "train", 8, data_dir=str(tmp_path))


def _gz(data: bytes) -> bytes:
    # mtime=0: the same bytes in every process. The test ids are named, not made from these bytes,
    # because pytest-xdist refuses to run when two workers collect different ids.
    return gzip.compress(data, mtime=0)


def _good_labels(n=4):
    return _gz(_idx_bytes(np.zeros(n, np.uint8)))


def _images_gz(n=4):
    # A repeating pattern compresses with Huffman codes right after the 10-byte gzip header, so a
    # damaged byte at 11 breaks the deflate stream itself (zlib.error), not only the CRC.
    return _gz(_idx_bytes((np.arange(n * 28 * 28) % 13).astype(np.uint8).reshape(n, 28, 28)))


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.mark.parametrize("images_file", [
    pytest.param(b"\x1f\x8bthis is not really gzip", id="corrupt-gzip-stream"),
    pytest.param(_gz(_idx_bytes(np.zeros(4, np.uint8))), id="labels-magic-2049"),
    pytest.param(_gz(_idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10]), id="truncated-pixels"),
    pytest.param(_gz(bytes([0, 0, 0x08, 0x03, 0, 0, 0])), id="truncated-header"),
    pytest.param(_gz(_idx_bytes(np.zeros((4, 27, 28), np.uint8))), id="wrong-image-size"),
    pytest.param(_gz(_idx_bytes(np.zeros((5, 28, 28), np.uint8))), id="5-images-4-labels"),
    pytest.param(b"", id="empty-file"),
    pytest.param(_flip(_images_gz(), 11), id="damaged-deflate-data"),      # zlib.error
    pytest.param(_images_gz()[:-8] + b"\0" * 8, id="wrong-crc"),
    pytest.param(_images_gz()[:40], id="gzip-cut-short"),                 # EOFError
])
def test_malformed_idx_raises_data_error(tmp_path, images_file):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(images_file)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(_good_labels())
    with pytest.raises(D.DataError, match="train-images-idx3-ubyte.gz"):
        D.load("fashion_mnist", "train", 4, data_dir=str(tmp_path))


def test_out_of_range_label_raises_data_error(tmp_path):
    _write_fashion(tmp_path, "train", np.zeros((2, 28, 28), np.uint8), np.array([1, 10], np.uint8))
    with pytest.raises(D.DataError, match="out of range"):
        D.load("fashion_mnist", "train", 4, data_dir=str(tmp_path))


@pytest.mark.parametrize("source", ["auto", "idx"])
def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, source):
    # An explicit data_dir without the files is an error even when the
    # system copy exists: no silent fallback.
    with pytest.raises(D.DataError) as e:
        D.load("fashion_mnist", "train", 8, data_dir=str(tmp_path / "missing"), source=source)
    message = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data_dir" in message and "tfds" in message.lower()
    assert not (tmp_path / "missing").exists()


# ----------------------------------------------------------------------------- TFDS data sets


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_pipelines_on_mock_data(name, classes):
    info = D.dataset_info(name)
    low = (0 - np.array(info.mean)) / np.array(info.std)
    high = (1 - np.array(info.mean)) / np.array(info.std)
    with tfds.testing.mock_data(num_examples=10):
        for split, training, sizes in (("test", False, [4, 4, 2]), ("train", True, [4, 4])):
            batches = _batches(D.load(name, split, 4, training=training, seed=1))
            assert [len(y) for _, y in batches] == sizes
            for x, y in batches:
                assert x.shape[1:] == (32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int32
                assert y.min() >= 0 and y.max() < classes
                assert np.all(x >= low - 1e-4) and np.all(x <= high + 1e-4)
        assert len(_batches(D.load(name, "train", 4, take=6))) == 2
        reps = D.representative_images(name, 5)
        assert reps.shape == (5, 32, 32, 3) and reps.dtype == np.float32


def test_imagenet_pipelines_on_mock_data():
    info = D.dataset_info("imagenet2012")
    assert len(info.labels) == 1000
    with tfds.testing.mock_data(num_examples=6):  # mock JPEGs are tiny, odd-sized images
        for split, training in (("test", False), ("train", True)):
            batches = _batches(D.load("imagenet2012", split, 3, training=training, seed=2))
            assert [len(y) for _, y in batches] == [3, 3]
            for x, y in batches:
                assert x.shape[1:] == (224, 224, 3) and x.dtype == np.float32 and y.dtype == np.int32
                assert y.min() >= 0 and y.max() < 1000 and np.isfinite(x).all()
        (x, _), = _batches(D.load("imagenet2012", "train", 4, training=True, take=4, image_size=64))
        assert x.shape == (4, 64, 64, 3)
        (x, _), = _batches(D.load("imagenet2012", "test", 4, take=4, image_size=(96, 64)))
        assert x.shape == (4, 96, 64, 3)
        assert D.representative_images("imagenet2012", 2, image_size=32).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("name,hint", [("cifar10", "tfds build cifar10"), ("cifar100", "tfds build cifar100"),
                                       ("imagenet2012", "manual_dir")])
def test_unprepared_tfds_data_raises_data_error(tmp_path, name, hint):
    with pytest.raises(D.DataError) as e:
        D.load(name, "train", 8, data_dir=str(tmp_path))
    assert hint in str(e.value) and "--data_dir" in str(e.value)


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic():
    a = _batches(D.load("synthetic", "train", 64, training=True, seed=5, take=256))
    b = _batches(D.load("synthetic", "train", 64, training=True, seed=5, take=256))
    c = _batches(D.load("synthetic", "train", 64, training=True, seed=6, take=256))
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    (x1, y1), = _batches(D.load("synthetic", "test", 512))
    (x2, y2), = _batches(D.load("synthetic", "test", 512, seed=9))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (512, 28, 28, 1) and y1.dtype == np.int32
    assert set(np.bincount(y1, minlength=10)) <= {51, 52}  # balanced classes
    assert abs(x1.mean()) < 0.15 and abs(x1.std() - 1) < 0.1


def test_synthetic_is_learnable():
    (x_train, y_train), = _batches(D.load("synthetic", "train", 2048))
    (x_test, y_test), = _batches(D.load("synthetic", "test", 512))
    centroids = np.stack([x_train[y_train == k].mean(0).ravel() for k in range(10)])
    flat = x_test.reshape(len(x_test), -1)
    predicted = np.argmin(((flat[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == y_test).mean() > 0.9  # chance is 0.1


def test_synthetic_shape_and_representative_images():
    (x, y), = _batches(D.load("synthetic", "train", 8, take=8, training=True, image_size=(16, 12, 3)))
    assert x.shape == (8, 16, 12, 3) and y.shape == (8,)
    reps = D.representative_images("synthetic", 16, seed=0)
    assert reps.shape == (16, 28, 28, 1) and reps.dtype == np.float32
    with pytest.raises(ValueError):
        D.representative_images("synthetic", 5000)


def test_validation_split_is_the_last_training_examples():
    images, labels = D.synthetic_arrays("train")
    info = D.dataset_info("synthetic")
    val = _batches(D.load("synthetic", "validation", 64, validation_examples=100))
    train = _batches(D.load("synthetic", "train", 512, validation_examples=100))
    vx, vy = np.concatenate([b[0] for b in val]), np.concatenate([b[1] for b in val])
    tx, ty = np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])
    np.testing.assert_array_equal(_pixels(tx, info), images[:-100])
    assert len(vy) == 100 and len(ty) == 2048 - 100
    np.testing.assert_array_equal(vy, labels[-100:])
    np.testing.assert_array_equal(ty, labels[:-100])
    np.testing.assert_array_equal(_pixels(vx, info), images[-100:])
    # Training shuffles within the first 1948 only: no held-out image ever reaches it.
    shuffled = _batches(D.load("synthetic", "train", 512, training=True, augmentation="none", validation_examples=100))
    seen = {x.tobytes() for b in shuffled for x in _pixels(b[0], info)}
    assert len(shuffled) == 1948 // 512 and not seen & {x.tobytes() for x in images[-100:]}
