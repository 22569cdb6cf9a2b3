"""bench/peak.py: the measured peak is a real rate, and the derived one is the product it prints."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import peak  # noqa: E402


def test_measured_peak_is_a_plausible_rate():
    rate = peak.measured_peak(1, n=256, repeats=3)
    # Any CPU that runs these tests multiplies 256x256 float32 matrices at more than 0.1 GFLOP/s, and none
    # single-threaded at more than 10 TFLOP/s.
    assert rate is not None and 1e8 < rate < 1e13


def test_derived_peak_is_the_product_of_its_overrides():
    value, text = peak.cpu_peak(cores=3, clock_ghz=2.0, fma_units=2, lanes=8)
    assert value == pytest.approx(3 * 2.0e9 * 2 * 8 * 2)  # 192 GFLOP/s by hand
    assert text.startswith("fp32 peak: the derived one (overridden)") and "= 192.0 GFLOP/s (96.0 GMAC/s)" in text


def test_failed_measurement_falls_back_to_the_derived_peak(monkeypatch):
    monkeypatch.setattr(peak, "measured_peak", lambda *a, **k: None)
    value, text = peak.cpu_peak(cores=1)
    assert value > 0 and "measurement failed" in text
