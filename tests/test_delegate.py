"""Issue 10: graphs a delegate takes whole, and the zero-copy step path.

- inference traces the plain strided 1x1 convolution (the strided-slice
  workaround is for training only), with the same numbers;
- every exported file has a static batch of 1, and XNNPACK takes each anytime
  step as one partition (float32 and int8); the partition counter itself is
  checked on graphs whose answer is known;
- ``runtime.Steps`` (slots in the interpreter's buffers), the per-step thread
  plan and LiteRT's CompiledModel buffer handover all match Keras.
"""

import numpy as np
import pytest
import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf.export import convert as conv
from hne_tf.export import manifest as mf
from hne_tf.export import runtime as rt
from hne_tf.layers import GroupedConv2D
from hne_tf.training import load_trained


@pytest.fixture(scope="module")
def hne_model(hne_run):
    return load_trained(str(hne_run))


def _images(n=8):
    x, _ = next(iter(data_lib.load("synthetic", "test", n, take=n)))
    return x.numpy()


def _op_types(fn, *specs):
    graph = tf.function(fn).get_concrete_function(*specs).graph
    return {op.type for op in graph.get_operations()}


# ------------------------------------------------------- the strided 1x1 conv

@pytest.mark.parametrize("batch", [1, 3])
def test_strided_1x1_conv_is_plain_at_inference_and_sliced_in_training(batch):
    layer = GroupedConv2D(16, kernel_size=1, strides=2, groups=2)
    x = tf.random.stateless_normal((batch, 15, 15, 8), seed=(1, 2))
    layer(x)
    spec = tf.TensorSpec((None, 15, 15, 8))
    inference = _op_types(lambda t: layer(t, training=False), spec)
    training = _op_types(lambda t: layer(t, training=True), spec)
    assert "StridedSlice" not in inference and "Conv2D" in inference
    assert "StridedSlice" in training  # the oneDNN filter-gradient workaround
    # Same numbers both ways, and both equal an independent subsample-then-matmul.
    plain, sliced = layer(x, training=False).numpy(), layer(x, training=True).numpy()
    kernel = layer.kernel.numpy()[0, 0]  # [4 in per group, 16]
    sub = x.numpy()[:, ::2, ::2, :]
    want = np.concatenate([sub[..., g * 4:(g + 1) * 4] @ kernel[:, g * 8:(g + 1) * 8] for g in range(2)], -1)
    assert plain.shape == (batch, 8, 8, 16)
    np.testing.assert_allclose(plain, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(plain, sliced, atol=1e-6, rtol=0)


# ------------------------------------------------------- partitions

def _convert(fn, shape):
    concrete = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete.get_concrete_function()], tf.Module())
    return converter.convert()


def test_partition_counter_on_graphs_with_a_known_answer():
    w1 = tf.constant(np.random.RandomState(0).standard_normal((1, 1, 4, 8)).astype(np.float32))
    w2 = tf.constant(np.random.RandomState(1).standard_normal((1, 1, 16, 8)).astype(np.float32))

    def whole(x):  # CONV_2D (ReLU fused), MEAN
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return {"logits": tf.reduce_mean(y, axis=[1, 2])}

    def split(x):  # cumsum has no XNNPACK kernel: conv | CUMSUM | conv
        y = tf.nn.conv2d(x, w1, 1, "SAME")
        y = tf.math.cumsum(y, axis=3)
        y = tf.nn.conv2d(tf.concat([y, y], -1), w2, 1, "SAME")
        return {"logits": tf.reduce_mean(y, axis=[1, 2])}

    one = rt.partitions(_convert(whole, (1, 6, 6, 4)))
    assert one == {"serving_default": {"partitions": 1, "ops": 2, "fallback": []}}
    two = rt.partitions(_convert(split, (1, 6, 6, 4)))["serving_default"]
    assert two["partitions"] == 2 and two["fallback"] == ["CUMSUM"]


def test_exported_files_have_a_static_batch_and_whole_anytime_partitions(hne_export):
    out, manifest = hne_export
    assert manifest["input"]["shape"] == [1, 28, 28, 1]
    assert manifest["input"]["batch"]["size"] == 1 and manifest["input"]["batch"]["static"] is True
    assert all(shape[0] == 1 for shape in manifest["anytime"]["slots"].values())
    for f in manifest["files"]:
        buf = (out / f["file"]).read_bytes()
        interpreter = rt.load_interpreter(buf, num_threads=1)
        for key in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner(key)
            for detail in list(runner.get_input_details().values()) + list(runner.get_output_details().values()):
                assert detail["shape_signature"][0] == 1, (f["file"], key, detail["shape_signature"])
        per = rt.partitions(buf)
        assert f["xnnpack"]["partitions_max"] == max(p["partitions"] for p in per.values())
        fallback = {op for p in per.values() for op in p["fallback"]}
        assert f["xnnpack"]["fallback_ops"] == sorted(fallback)
        # No op that exists only because of the batch or of the training-time slice.
        assert not fallback & {"SHAPE", "PACK", "RESHAPE", "CONV_2D", "DEPTHWISE_CONV_2D"}, (f["file"], fallback)
        if f["kind"] == "anytime":  # every step: one XNNPACK partition, nothing outside
            assert {p["partitions"] for p in per.values()} == {1}, (f["file"], per)
            assert fallback == set(), f["file"]
            model = rt.compiled_model(str(out / f["file"]))
            if model is not None:
                assert model.is_fully_accelerated(), f["file"]
        elif f["precision"] == "float32":  # the branch replication is a CONCATENATION: one partition
            p = per["serving_default"]
            assert p["partitions"] == 1 and p["fallback"] == [], (f["file"], p)
            model = rt.compiled_model(str(out / f["file"]))
            if model is not None:
                assert model.is_fully_accelerated(), f["file"]
        else:
            # int8 prefixes of k >= 2 keep the grouped head's BATCH_MATMUL, which XNNPACK takes in
            # float32 but not fully quantized; it splits the graph once.
            p = per["serving_default"]
            assert 1 <= p["partitions"] <= 1 + len(p["fallback"]), (f["file"], p)
            assert set(p["fallback"]) <= {"BATCH_MATMUL"}, (f["file"], p)


# ------------------------------------------------------- the zero-copy step path

def test_zero_copy_steps_match_keras(hne_export, hne_model):
    out, manifest = hne_export
    steps = manifest["anytime"]["steps"]
    x = _images(6)
    want = hne_model(x)["logits"].numpy()  # [n, leaves, classes], leaf order = step order
    path = str(out / "anytime_float32.tflite")
    sequence = rt.Steps(rt.load_interpreter(path, num_threads=1), steps)
    step_ms = np.zeros((len(x), len(steps)))
    got = sequence.run(x, step_ms)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert (step_ms > 0).all()
    # Step by step (the live runner's path): the cache holds views, the slots
    # that later steps rewrite are read as they stood.
    cache = {"input": x[:1]}
    logits = np.stack([sequence.step(i, cache).copy() for i in range(len(steps))], axis=1)
    np.testing.assert_allclose(logits, want[:1], atol=1e-4, rtol=0)
    # Views, not copies: the slot in the cache is the writer's output buffer.
    last = max(i for i, s in enumerate(steps) if steps[i]["writes"])
    slot = steps[last]["writes"][0]
    assert np.shares_memory(cache[slot], sequence.outputs[last][slot])
    # A per-step thread plan runs the same numbers.
    plan = [1 if i % 2 else 2 for i in range(len(steps))]
    np.testing.assert_allclose(rt.planned_steps(path, steps, plan).run(x), want, atol=1e-4, rtol=0)
    # int8 through the same path equals the same file run by plain signature calls that copy
    # every slot (the path the zero-copy one replaced), and stays near float32 on average.
    int8_path = str(out / "anytime_int8.tflite")
    int8 = rt.Steps(rt.load_interpreter(int8_path, num_threads=1), steps).run(x)
    reference = rt.load_interpreter(int8_path, num_threads=1)
    runners = [rt.Runner(reference, s["signature"]) for s in steps]
    copied = np.zeros_like(int8)
    for n in range(len(x)):
        cache = {"input": x[n:n + 1]}
        for i, (s, run) in enumerate(zip(steps, runners, strict=True)):
            outputs = run(**{s["reads"]: cache[s["reads"]]})
            cache.update({w: outputs[w] for w in s["writes"]})
            copied[n, i] = outputs["logits"][0]
    np.testing.assert_allclose(int8, copied, atol=1e-6, rtol=0)
    assert int8.shape == want.shape and np.abs(int8 - want).mean() < 0.25 * np.abs(want).mean()


def test_compiled_model_buffer_handover_matches_keras(hne_export, hne_model):
    out, manifest = hne_export
    model = rt.compiled_model(str(out / "anytime_float32.tflite"))
    if model is None:
        pytest.skip("this ai_edge_litert has no CompiledModel API")
    x = _images(2)
    compiled = rt.CompiledSteps(model, manifest["anytime"]["steps"])
    want = hne_model(x)["logits"].numpy()
    for i in range(len(x)):
        np.testing.assert_allclose(compiled.run(x[i:i + 1]), want[i], atol=1e-4, rtol=0)


def test_static_batch_runner_takes_any_number_of_images(hne_export, hne_model):
    out, manifest = hne_export
    (f,) = [f for f in mf.files_of(manifest, "prefix", "float32") if f["k"] == 2]
    runner = rt.Runner(rt.load_interpreter(str(out / f["file"]), num_threads=1), conv.DEFAULT_SIGNATURE)
    assert runner.batch == 1
    x = _images(5)
    got = rt.run_batched(runner, x, batch_size=3)
    np.testing.assert_allclose(got, hne_model.prefix(2)(x).numpy(), atol=1e-4, rtol=0)
    one = runner.one(x[:1])
    np.testing.assert_allclose(one, got[:1], atol=0, rtol=0)


def test_split_run_shares_a_pass_between_interpreters_in_image_order(hne_export, hne_model):
    # The export's accuracy pass: one 1-thread interpreter per CPU, each on its own chunk, in threads.
    out, manifest = hne_export
    steps = manifest["anytime"]["steps"]
    path = str(out / "anytime_float32.tflite")
    x = _images(7)
    want = hne_model(x)["logits"].numpy()
    seen = []

    def run(sequence, chunk):
        seen.append(len(chunk))
        return sequence.run(chunk)
    handles = [rt.Steps(rt.load_interpreter(path, num_threads=1), steps) for _ in range(3)]
    got = rt.split_run(handles, run, x)
    assert sorted(seen) == [2, 2, 3]  # contiguous chunks of 7 images over 3 interpreters
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    # The same numbers as one interpreter over every image; more handles than images leave some idle.
    np.testing.assert_array_equal(got, handles[0].run(x))
    np.testing.assert_array_equal(rt.split_run(handles, rt.Steps.run, x[:2]), got[:2])
    (f,) = [f for f in mf.files_of(manifest, "prefix", "float32") if f["k"] == 2]
    runners = [rt.Runner(rt.load_interpreter(str(out / f["file"]), num_threads=1), conv.DEFAULT_SIGNATURE)
               for _ in range(2)]
    np.testing.assert_array_equal(rt.split_run(runners, rt.run_batched, x), rt.run_batched(runners[0], x))


def test_thread_plan_picks_one_count_per_step(hne_export):
    out, manifest = hne_export
    steps = manifest["anytime"]["steps"]
    plan = rt.thread_plan(str(out / "anytime_float32.tflite"), steps, 2, _images(1), runs=3, warmup=1)
    assert len(plan) == len(steps) and set(plan) <= {1, 2}


# ------------------------------------------------------- LiteRT's private API

def test_litert_private_members_are_reached_only_through_the_adapter():
    """Issue 22 section 5: one module touches LiteRT's private Python API."""
    import pathlib
    import re

    private = re.compile(r"_interpreter_wrapper|_subgraph_index|_get_ops_details|_create_default_environment"
                         r"|runner\._(inputs|outputs)|interpreter\._interpreter\b")
    root = pathlib.Path(__file__).resolve().parent.parent / "hne_tf"
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if private.search(p.read_text()))
    assert users == ["export/litert_adapter.py"], users


def test_an_untested_litert_version_is_one_clear_line(hne_export, monkeypatch):
    from kit import run_cli

    from hne_tf.export import litert_adapter as litert

    out, _ = hne_export
    path = str(out / "prefix_k01_float32.tflite")
    monkeypatch.delenv(litert.OVERRIDE, raising=False)
    monkeypatch.setattr(litert, "installed_version", lambda: "9.9.9")
    with pytest.raises(litert.UnsupportedLiteRT) as info:
        rt.Runner(rt.load_interpreter(path), "serving_default")
    message = str(info.value)
    assert "\n" not in message and message.startswith("ai-edge-litert 9.9.9 is installed")
    assert f"pip install ai-edge-litert=={litert.TESTED_VERSIONS[-1]}" in message and litert.OVERRIDE in message
    r = run_cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--num_images=2",
                env={"HNE_TF_TRACEBACK": None})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == f"export.anytime: error: {message}"
    monkeypatch.setenv(litert.OVERRIDE, "1")  # the way to try a new release
    x = _images(2)
    assert rt.Runner(rt.load_interpreter(path), "serving_default")(input=x)["logits"].shape[0] == 2
    monkeypatch.undo()
    assert litert.installed_version() in litert.TESTED_VERSIONS  # requirements.txt's pin is a tested one
    litert.check_version()


def test_a_prefix_file_stores_only_its_slice_of_a_large_kernel():
    # TFLite's converter leaves a slice of a large constant unfolded: a 168 MB head kernel (16 groups of
    # 2560 x 1024, hne_mobilenetv2's size) stayed whole in a one-group file, with its FULLY_CONNECTED
    # outside XNNPACK. Traced under constant_weight_slices, the files hold just their groups' columns.
    from hne_tf.layers import TreeDense

    layer = TreeDense(1024, groups=16)
    layer.build((None, 16, 2560))
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    rng = np.random.default_rng(0)
    cases = {  # key: (the graph's body, its input shape, its groups)
        "prefix_k01": (lambda v: {"logits": layer.single(v, 3)}, (2560,), [3]),
        "prefix_k02": (lambda v: {"logits": layer(v, group_range=(0, 2))}, (2, 2560), [0, 1]),
    }
    for key, (body, shape, groups) in cases.items():
        cols = slice(groups[0] * 1024, (groups[-1] + 1) * 1024)
        graph = conv._freeze(body, {"input": shape}, key)
        buf = conv.Converter({key: graph}).convert([key], "float32")
        assert len(buf) < 1.01 * kernel[:, cols].nbytes, (key, len(buf))
        assert rt.partitions(buf)[conv.DEFAULT_SIGNATURE]["fallback"] == [], key
        feed = rng.normal(size=(1, *shape)).astype(np.float32)
        got = rt.Runner(rt.load_interpreter(buf, num_threads=1), conv.DEFAULT_SIGNATURE)(input=feed)["logits"]
        rows = feed.reshape(len(groups), 2560)  # group by group: its input row times its own columns
        want = np.stack([rows[i] @ kernel[:, g * 1024:(g + 1) * 1024] + bias[g * 1024:(g + 1) * 1024]
                         for i, g in enumerate(groups)]).reshape(got.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())
