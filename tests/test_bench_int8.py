"""bench/bench_int8.py --layers: the layer specs, their MACs by hand, and one real timed pair."""

import csv
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import bench_int8  # noqa: E402


def test_layer_macs_by_hand():
    # 4 channels, 2x2, 2 groups: the 3x3 has 2 inputs per output (4 * 2 * 9 per pixel = 72, 4 pixels: 288),
    # the grouped 1x1 2 (4 * 2 per pixel: 32).
    assert bench_int8.layer_macs(4, 2, 2) == 288 + 32
    # depthwise 3x3 (4 * 9 per pixel: 144) then a dense 1x1 (4 * 4 per pixel: 64)
    assert bench_int8.layer_macs(4, 2, 0) == 144 + 64


@pytest.mark.parametrize("spec", ["4:28", "4:28:3", "0:28:1", "4:x:1", "4:28:-1"])
def test_bad_layer_specs_are_refused(spec, capsys):
    with pytest.raises(SystemExit) as e:
        bench_int8.parse_args(["--layers", spec])
    assert e.value.code == 2 and "--layers" in capsys.readouterr().err


def test_layers_mode_times_float32_and_int8(tmp_path):
    out = tmp_path / "layers.csv"
    assert bench_int8.main(["--layers", "8:6:2", "8:6:0", "--threads", "1", "--runs", "2", "--warmup", "0",
                            "--calibration", "1", "--csv", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [(r["channels"], r["groups"], r["precision"]) for r in rows] == [("8", "2", "int8"), ("8", "0", "int8")]
    for r in rows:
        assert float(r["ms"]) > 0 and float(r["float32_ms"]) > 0
        assert float(r["ratio_to_float32"]) == pytest.approx(float(r["ms"]) / float(r["float32_ms"]))
