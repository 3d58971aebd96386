"""Issue 19 ("a researcher's day"): the small things a new user trips over, each pinned by a test."""

from __future__ import annotations

import numpy as np
import pytest

from formulaforge.datasets.stats import _describe


@pytest.mark.parametrize("values", [list(range(63, 83)), [5, 82, 3, 3, 40, 7], [1, 2], [9] * 4,
                                    [int(v) for v in np.random.default_rng(0).integers(1, 500, 37)]])
def test_percentiles_stay_within_min_max_and_match_numpy(values: list[int]) -> None:
    d = _describe(values)
    assert d["min"] <= d["p5"] <= d["p50"] <= d["p95"] <= d["max"]
    for key, q in (("p5", 5), ("p50", 50), ("p95", 95)):  # numpy's default "linear" is the reference
        assert d[key] == pytest.approx(float(np.percentile(values, q)))
