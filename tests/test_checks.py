"""The one vocabulary of value checks (hne_tf.checks): words, tests and messages by hand."""

import math

import numpy as np
import pytest

from hne_tf import checks


@pytest.mark.parametrize("rule, words, good, bad", [
    (checks.integer(1), "an integer >= 1", [1, 7, np.int64(3)], [0, -1, 1.0, True, "1", None]),
    (checks.integer(0, 10), "an integer in [0, 10]", [0, 10], [11, -1, 2.5]),
    (checks.number(0, low_open=True), "a number > 0", [1e-9, 3, 2.5], [0, -1, math.inf, math.nan, True, "1"]),
    (checks.number(0, 1, high_open=True), "a number in [0, 1)", [0, 0.999], [1, 1.5, -0.1]),
    (checks.number(high=5), "a number <= 5", [-1e9, 5], [5.1]),
    (checks.choice("a", "b"), "one of 'a', 'b'", ["a"], ["c", 1, None]),
    (checks.integers(1, length=2), "a list of 2 integers >= 1", [[1, 2], (3, 4)], [[1], [0, 1], "12", []]),
    (checks.or_none(checks.integer(1), "all"), "an integer >= 1, or null (all)", [None, 2], [0]),
])
def test_rules_say_what_they_allow_and_test_it(rule, words, good, bad):
    assert rule.allowed == words
    assert all(rule.accepts(v) for v in good)
    assert not any(rule.accepts(v) for v in bad)


def test_check_converts_and_names_the_value():
    assert checks.integer(1).check("n", np.int32(4)) == 4 and type(checks.integer(1).check("n", np.int32(4))) is int
    assert checks.integers(0).check("r", [0, 2]) == (0, 2)
    with pytest.raises(ValueError, match=r"^--lr must be a number > 0, got -1$"):
        checks.number(0, low_open=True).check("--lr", -1)
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 16\], got 17$"):
        checks.leaves("k", 17, 16)
    assert checks.count("runs", 3) == 3
    with pytest.raises(ValueError, match="runs must be an integer >= 1, got 0"):
        checks.count("runs", 0)
