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


def _written(out) -> list[dict]:
    import json

    return [json.loads(line) for split in ("train", "valid", "test")
            for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_synth_generate_writes_the_asked_number_of_distinct_records(tmp_path) -> None:
    from typer.testing import CliRunner

    from formulaforge.cli import app

    out = tmp_path / "deriv"
    result = CliRunner().invoke(app, ["synth", "generate", "derivatives", "--n", "40", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = _written(out)
    assert len(records) == 40
    assert len({r["problem"] for r in records}) == 40


def test_synth_generate_says_why_fewer_when_the_space_is_small(tmp_path) -> None:
    from typer.testing import CliRunner

    from formulaforge.cli import app

    out = tmp_path / "add"  # one-digit a + b: 100 distinct problems exist
    result = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "150", "--out", str(out),
                                      "-o", "max_digits=1"])
    assert result.exit_code == 0, result.output
    assert len(_written(out)) == 100
    assert "100 distinct problems, not 150" in result.output
