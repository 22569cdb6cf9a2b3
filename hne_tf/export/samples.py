"""Raw test images for the on-device demos: PNG files plus their labels.

  python3 -m hne_tf.export.samples --manifest=runs/hne_fashion_mnist_tflite/manifest.json --out=DIR --num=12

(in a checkout, also python3 -m export.samples.)

The demos (Android, browser) preprocess images themselves, exactly as
``manifest["input"]`` says, so they need the *raw* pixels (0..255) of the
split the model was evaluated on, not the normalized tensors of the training
pipeline. Writes ``DIR/NN_<label>.png`` and ``DIR/samples.json``::

  {"dataset": "fashion_mnist", "split": "test", "shape": [28, 28, 1],
   "samples": [{"file": "00_ankle_boot.png", "index": 0, "label": 9, "label_name": "Ankle boot"}, ...]}

``index`` is the image's position in the test split.
"""

from __future__ import annotations

import os
import re
import sys

import numpy as np

from hne_tf import osutil
from hne_tf.cli import run_app

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLES_FILE = "samples.json"


def raw_test_images(dataset: str, num: int, data_dir: str | None = None,
                    shape: tuple[int, int, int] | None = None, num_classes: int = 10
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The first ``num`` test images as uint8 ``[num, H, W, C]`` and their labels ``[num]``.

    Fashion-MNIST comes from the offline IDX files, ``synthetic`` from its
    generator (``shape`` and ``num_classes`` as the model was trained). Other
    data sets have no raw-pixel path here yet.
    """
    from hne_tf import data as data_lib

    if num < 1:
        raise ValueError(f"the number of images must be at least 1, got {num}")
    if dataset == "fashion_mnist":
        images, labels = data_lib.read_fashion_mnist(data_dir or data_lib.FASHION_MNIST_DIR, "test")
    elif dataset == "synthetic":
        images, labels = data_lib.synthetic_arrays("test", tuple(shape or (28, 28, 1)), num_classes)
    else:
        raise ValueError(f"raw sample images are available for fashion_mnist and synthetic, not {dataset!r}")
    if num > len(images):
        raise ValueError(f"the {dataset} test split has only {len(images)} images, asked for {num}")
    return np.asarray(images[:num], np.uint8), np.asarray(labels[:num], np.int64)


def manifest_test_images(manifest: dict, num: int, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`raw_test_images` for the data set and input shape an export's manifest names."""
    return raw_test_images(manifest["model"]["dataset"], num, data_dir, tuple(manifest["input"]["shape"][1:]),
                           int(manifest["model"]["num_classes"]))


def preprocess(manifest: dict, pixels: np.ndarray) -> np.ndarray:
    """Raw pixels ``[..., H, W, C]`` in 0..255 -> the model's float32 input, per ``manifest["input"]``.

    ``(pixel / 255 - mean[c]) / std[c]`` with every operation in float32. The one preprocessing of
    the host (the anytime runner, the fixture, the demos' checks); the Java and JS engines test
    theirs against its vectors (``tests/data/preprocess_vectors.json``).
    """
    norm = manifest["input"]["normalization"]
    mean = np.asarray(norm["mean"], np.float32)
    std = np.asarray(norm["std"], np.float32)
    return ((np.asarray(pixels, np.float32) / 255.0 - mean) / std).astype(np.float32)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "class"


def write_png(path: str, pixels: np.ndarray) -> None:
    """Writes uint8 ``[H, W, C]`` (C = 1 or 3) as PNG."""
    import tensorflow as tf

    with open(path, "wb") as f:
        f.write(tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy())


def write_samples(manifest: dict, out_dir: str, num: int = 12, data_dir: str | None = None) -> list[dict]:
    """Writes ``num`` test images as PNG and ``samples.json`` into ``out_dir``; returns the sample list."""
    images, labels = manifest_test_images(manifest, num, data_dir)
    names = manifest.get("labels") or [str(i) for i in range(int(manifest["model"]["num_classes"]))]
    os.makedirs(out_dir, exist_ok=True)
    samples = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"{i:02d}_{_slug(names[label])}.png"
        write_png(os.path.join(out_dir, name), image)
        samples.append({"file": name, "index": i, "label": int(label), "label_name": names[label]})
    osutil.write_json(os.path.join(out_dir, SAMPLES_FILE), {
        "dataset": manifest["model"]["dataset"], "split": "test", "shape": list(images.shape[1:]), "samples": samples})
    return samples


def main(argv) -> None:
    from absl import flags

    from hne_tf.data import DataError
    from hne_tf.export import manifest as mf

    FLAGS = flags.FLAGS
    try:
        manifest = mf.load(FLAGS.manifest, check_files=False)
        samples = write_samples(manifest, FLAGS.out, FLAGS.num, FLAGS.data_dir)
    except (mf.ManifestError, ValueError, DataError, OSError) as e:
        sys.exit(f"export.samples: error: {e}")
    print(f"wrote {len(samples)} PNG images and {SAMPLES_FILE} to {FLAGS.out}")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("manifest", "runs/hne_fashion_mnist_tflite/manifest.json", "An export's manifest.json.")
    flags.DEFINE_string("out", None, "Folder to write the PNG files and samples.json into.")
    flags.DEFINE_integer("num", 12, "How many test images (the first N of the test split).")
    flags.DEFINE_string("data_dir", None, "Data location (default: the data set's default).")
    flags.mark_flag_as_required("out")


def cli() -> None:
    """The ``python3 -m hne_tf.export.samples`` command."""
    run_app(main, _define_flags, __doc__, "export.samples")


if __name__ == "__main__":
    cli()
