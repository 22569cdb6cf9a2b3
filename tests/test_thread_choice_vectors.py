"""The thread-count rule, one set of cases for its three implementations.

``tests/data/thread_choice_vectors.json`` is read here (``runtime.faster_count``), by the page's unit
tests (``fewestNotBeaten`` in web_demo/engine.js) and by the Android engine's ThreadChoiceVectorsTest.
"""

import json
import os

import pytest

from hne_tf.export import runtime as rt

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "thread_choice_vectors.json")

with open(VECTORS) as f:
    CASES = json.load(f)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_faster_count_gives_each_vectors_verdict(case):
    if case.get("error"):
        with pytest.raises(ValueError):
            rt.faster_count(case["counts"], case["ms"], case["margin"])
    else:
        assert rt.faster_count(case["counts"], case["ms"], case["margin"]) == case["chosen"]


def test_the_vectors_cover_both_verdicts_and_the_refusals():
    chosen = [c for c in CASES if not c.get("error")]
    assert {c["chosen"] == c["counts"][0] for c in chosen} == {True, False}
    assert sum(bool(c.get("error")) for c in CASES) >= 4
    assert rt.faster_count([1, 2], [1.0, 0.9]) == 2  # the default margin, THREAD_MARGIN (0.05)
