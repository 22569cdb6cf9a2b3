"""tf.distribute: 2 replicas compute what 1 replica does; 2 workers on loopback train."""

import json
import os
import socket
import subprocess
import sys

import pytest
from kit import ROOT

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _last_json(stdout):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


# The default run steps a 4-leaf tree of 8-channel nodes (12 s); the 16-leaf ResNet tree (36 s) and ONE are
# -m slow. The replicas' step is the same code whatever the tree's size.
@pytest.mark.parametrize("model,loss,options", [
    ("uniform_tree", "hierarchical_distillation", {"branching": [1, 2, 2], "channels": 8}),
    pytest.param("hne_resnet_tiny", "hierarchical_distillation", {"width": 0.5}, marks=pytest.mark.slow),
    pytest.param("one_resnet_tiny", "one", {"width": 1.0}, marks=pytest.mark.slow)])
def test_two_replicas_match_one(model, loss, options):
    # 8-channel groups: with 1-channel groups, BN's backward cancels so much
    # that float32 summation order alone moves updates by ~1e-3.
    script = os.path.join(ROOT, "tests", "scripts", "mirrored_step.py")
    r = subprocess.run([sys.executable, script, model, loss, json.dumps(options)],
                       capture_output=True, text=True, timeout=300, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    out = _last_json(r.stdout)
    assert out["replicas"] == 2
    one, two = out["loss"]
    assert two == pytest.approx(one, rel=1e-5)
    assert out["max_update"] > 1e-3          # the step did change the weights
    assert out["max_weight_diff"] < 1e-5     # and both runs changed them alike


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_loopback(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    d = tmp_path / "run"
    args = ["--dataset=synthetic", "--model=hne_resnet_tiny", "--batch_size=16", "--steps_per_epoch=3",
            "--epochs=1", "--eval_examples=32", "--strategy=multi_worker", f"--model_dir={d}"]
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + args, cwd=ROOT,
                                      env={**ENV, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=300))
    finally:
        for p in procs:
            p.kill()
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "2 replica(s)" in outs[0][0]
    assert "non-chief" in outs[1][0]
    result = json.loads((d / "eval.json").read_text())
    assert result["epochs_trained"] == 1
