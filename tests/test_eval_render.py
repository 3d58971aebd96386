from __future__ import annotations

import pytest

from formulaforge.evaluation.metrics.render import layout_symbols, render_metrics, render_pair


def test_same_drawing_different_spelling_is_exact() -> None:
    assert render_pair(r"x^{2}", "x^2")["exact"]
    assert render_pair(r"\dfrac{a}{b}", r"\frac{a}{b}")["exact"]
    assert render_pair(r"\alpha + \beta", r"\alpha+\beta")["f1"] == pytest.approx(1.0)


def test_position_matters_not_only_identity() -> None:
    sup, sub = render_pair("x^2", "x_2"), render_pair(r"\frac{a}{b}", r"\frac{b}{a}")
    assert sup["f1"] == pytest.approx(0.5) and not sup["exact"]  # x matches, the 2 is misplaced
    assert sub["f1"] < 0.5  # only the fraction bar is where it should be


def test_insertion_keeps_the_unchanged_prefix() -> None:
    # a, +, b match; the reference's extra "+ c" is unmatched: F1 = 2*3/(3+5).
    assert render_pair("a+b", "a+b+c")["f1"] == pytest.approx(0.75)


def test_unrenderable_scores_zero_and_is_counted() -> None:
    assert layout_symbols(r"\begin{pmatrix} a \end{pmatrix}") is None
    out = render_metrics([r"\begin{pmatrix} a \end{pmatrix}", "x+1", ""], ["a", "x+1", "y"])
    assert out["render_failed"] == pytest.approx(2 / 3)
    assert out["render_f1"] == pytest.approx(1 / 3)
    assert out["render_exact"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        render_metrics(["a"], [])
