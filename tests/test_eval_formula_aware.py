from __future__ import annotations

import math

import pytest

from formulaforge.evaluation.metrics.formula_aware import edit_similarity, formula_metrics, symbolically_equal
from formulaforge.formula import to_sympy


def test_spelling_variants_are_exact_after_normalization() -> None:
    m = formula_metrics([r"\dfrac{a}{b} \le x^{2}"], [r"\frac{a}{b}\leq x^2"])
    assert m["norm_exact"] == 1.0 and m["norm_bleu"] == pytest.approx(100.0)
    assert m["norm_edit_sim"] == 1.0 and m["sym_equiv"] == 1.0


@pytest.mark.parametrize(
    ("pred", "ref", "equal"),
    [
        ("b + a", "a+b", True),
        ("y = x", "x = y", True),
        ("2x = 2y", "x = y", True),
        (r"\sin^2 x + \cos^2 x", "1", True),
        ("(x+1)^2", "x^2 + 2x + 1", True),
        ("x^2", "x^3", False),
        ("x = y", "x = 2", False),
    ],
)
def test_symbolic_equivalence(pred: str, ref: str, equal: bool) -> None:
    a, b = to_sympy(pred), to_sympy(ref)
    assert a is not None and b is not None
    assert symbolically_equal(a, b) is equal


def test_coverage_is_reported_beside_equivalence() -> None:
    preds = ["b + a", r"\mathfrak{X} \rightsquigarrow \mathcal{Y}", ""]
    refs = ["a + b", r"\mathcal{Y}", "x"]
    m = formula_metrics(preds, refs)
    assert 0 < m["sym_converted"] < 1
    assert m["sym_equiv"] == 1.0  # the only converted pair is equal
    assert math.isnan(formula_metrics([r"\begin{pmatrix}a\end{pmatrix}"], [r"\text{x}"])["sym_equiv"])


def test_edit_similarity() -> None:
    assert edit_similarity(["a", "+", "b"], ["a", "+", "c"]) == pytest.approx(2 / 3)
    assert edit_similarity([], []) == 1.0
