"""The pixel preprocessing's test vectors, shared by the three engines.

``tests/data/preprocess_vectors.json`` holds raw pixels and the model input that
``hne_tf.export.samples.preprocess`` (the one host preprocessing) makes of them, for the
normalizations of the data sets and a plain one. The Java engine
(``android_demo/engine``'s ``PreprocessVectorsTest``) and the JS engine
(``web_demo/test/preprocess_vectors.test.js``) check theirs against the same file.

Regenerate it (after a deliberate change of the preprocessing): ``python3 tests/test_preprocess_vectors.py --write``.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "data", "preprocess_vectors.json")


def _cases():
    """(name, shape [1, H, W, C], mean, std, pixels [H * W * C] ints in 0..255), chosen by hand."""
    from hne_tf import data as data_lib

    every_value = list(range(256))
    extremes = [0, 255, 1, 254, 127, 128, 73, 125, 63, 64, 191, 192]
    cases = []
    for name, shape, pixels in [("fashion_mnist", [1, 16, 16, 1], every_value),
                                ("cifar10", [1, 4, 4, 3], [(37 * i + 11) % 256 for i in range(36)] + extremes),
                                ("cifar100", [1, 2, 2, 3], extremes),
                                ("imagenet2012", [1, 2, 2, 3], extremes[::-1]),
                                ("synthetic", [1, 2, 3, 1], [0, 255, 127, 128, 83, 84])]:
        info = data_lib.dataset_info(name)
        cases.append((f"{name} normalization", shape, list(info.mean), list(info.std), pixels))
    cases.append(("mean 0, std 1 (pixel / 255)", [1, 1, 4, 1], [0.0], [1.0], [0, 1, 128, 255]))
    return cases


def _image_cases():
    """(name, raw RGB image [h, w, 3] uint8, InputSpec): uploads of other sizes than the model's."""
    import numpy as np

    from hne_tf.datasets.base import InputSpec

    rng = np.random.default_rng(21)

    def image(h, w):  # a smooth gradient plus noise: both the averaging and the edges matter
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 0 * x], -1)
        return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)

    rgb = dict(channels=3, mean=(0.5, 0.4, 0.3), std=(0.25, 0.25, 0.2))
    gray = dict(channels=1, mean=(0.286,), std=(0.353,))
    return [
        ("stretch, rgb, 40x30 -> 32x32 (a folder's photo)", image(30, 40), InputSpec(size=(32, 32), **rgb)),
        ("stretch, rgb, 24x24 -> 32x32 (upscaled)", image(24, 24), InputSpec(size=(32, 32), **rgb)),
        ("stretch, rgb, 7x13 -> 6x8 (each side its own scale)", image(13, 7), InputSpec(size=(8, 6), **rgb)),
        ("center_crop 0.875, rgb, 11x20 -> 6x8", image(20, 11),
         InputSpec(size=(8, 6), resize="center_crop", crop_fraction=0.875, **rgb)),
        ("center_crop 1, gray, 17x9 -> 8x8", image(9, 17), InputSpec(size=(8, 8), resize="center_crop", **gray)),
        ("center_crop 0.875, gray, 45x31 -> 28x28", image(31, 45),
         InputSpec(size=(28, 28), resize="center_crop", crop_fraction=0.875, **gray)),
        ("stretch, gray, 5x5 -> 6x8 (upscaled)", image(5, 5), InputSpec(size=(8, 6), **gray)),
        ("stretch, gray, 28x28 -> 28x28 (the model's size: unchanged, then gray)", image(28, 28),
         InputSpec(size=(28, 28), **gray)),
    ]


def build() -> dict:
    import tensorflow as tf

    from hne_tf.export.samples import preprocess

    out = []
    for name, shape, mean, std, pixels in _cases():
        manifest = {"input": {"shape": shape, "normalization": {"mean": mean, "std": std}}}
        x = preprocess(manifest, np.asarray(pixels, np.uint8).reshape(shape[1:]))
        assert x.dtype == np.float32 and x.shape == tuple(shape[1:])
        out.append({"name": name, "input": manifest["input"], "pixels": pixels,
                    "expected": [float(v) for v in x.reshape(-1)]})
    return {"format": "hne-tf-preprocess-vectors", "version": 1,
            "about": "raw pixels (0..255, [H, W, C] row-major) -> the model's input, as "
                     "hne_tf.export.samples.preprocess computes it: (pixel / 255 - mean[c]) / std[c], every "
                     "operation rounded to float32 as numpy does. 'expected' holds those float32 values exactly. "
                     "An engine that rounds as numpy does (the JS engine) matches exactly; one that computes in "
                     "double and rounds once (the Java engine) stays within tolerance x max(1, |expected|). "
                     "Regenerate: python3 tests/test_preprocess_vectors.py --write",
            "tolerance": 1e-6, "cases": out,
            "image_about": "image_cases: a raw RGB image of any size (rgb: [height, width, 3] row-major) -> the "
                           "model's 8-bit pixels (pixels: [H, W, channels]), as hne_tf.datasets.InputSpec.pixels "
                           "makes them (resize by the spec's rule, bilinear with antialiasing, gray, rounded). "
                           "'spec' is InputSpec.to_json(), as a manifest's input_spec.",
            "image_cases": [{"name": name, "spec": spec.to_json(), "width": int(img.shape[1]),
                             "height": int(img.shape[0]), "rgb": img.reshape(-1).tolist(),
                             "pixels": spec.pixels(tf.constant(img)).numpy().reshape(-1).tolist()}
                            for name, img, spec in _image_cases()]}


def test_vectors_are_the_python_preprocessing():
    """The committed vectors are exactly what the host preprocessing computes today."""
    with open(VECTORS) as f:
        committed = json.load(f)
    assert committed == build()
    for case in committed["cases"]:
        assert len(case["pixels"]) == len(case["expected"]) == int(np.prod(case["input"]["shape"]))


def test_the_runner_uses_the_same_function(hne_export):
    """The anytime runner's preprocessing is samples.preprocess itself (one function), on a real manifest."""
    from hne_tf.export.anytime import AnytimeEngine
    from hne_tf.export.samples import preprocess

    out, manifest = hne_export
    engine = AnytimeEngine(str(out / "manifest.json"))
    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1)
    np.testing.assert_array_equal(engine.preprocess(pixels), preprocess(manifest, pixels))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python3 {sys.argv[0]} --write   (rewrites {VECTORS})")
    sys.path.insert(0, os.path.dirname(HERE))
    with open(VECTORS, "w") as f:
        json.dump(build(), f, indent=1)
        f.write("\n")
    print(f"wrote {VECTORS}")
