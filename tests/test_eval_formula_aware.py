from __future__ import annotations

import math

import pytest

from formulaforge.evaluation.metrics.formula_aware import (
    edit_similarity,
    formula_metrics,
    plain_sym_metrics,
    symbolically_equal,
)
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
    # pair 1 converts on both sides; pair 2's prediction (\rightsquigarrow) and pair 3's empty one do not
    assert m["sym_converted"] == pytest.approx(1 / 3)
    assert m["sym_equiv"] == 1.0  # the only converted pair is equal
    assert math.isnan(formula_metrics([r"\begin{pmatrix}a\end{pmatrix}"], [r"\text{x}"])["sym_equiv"])


def test_edit_similarity() -> None:
    assert edit_similarity(["a", "+", "b"], ["a", "+", "c"]) == pytest.approx(2 / 3)
    assert edit_similarity([], []) == 1.0


_SPEED_SAMPLE = [  # (prediction, reference): equal, unequal, spelling variants, unconvertible, repeats
    ("b + a", "a+b"), ("x^2", "x^3"), (r"\dfrac{1}{2} x", r"\frac 12 x"), (r"\frac{1}{2}x", r"\frac 12 x"),
    ("y = x", "x = y"), ("x = y + 1", "x = y"), (r"\text{foo}", r"\mathcal{Y}"), ("", "x"),
    (r"\sin^2 x + \cos^2 x", "1"), ("(x+1)^2", "x^2 + 2x + 1"), ("(x+1)^2", "x^2 + 2x"),
    (r"\mathfrak{X} \to Y", r"X \to Y"), ("a b", "a+b"), ("b + a", "a+b"), (r"\left( a \right)", "a"),
    (r"\begin{pmatrix}a\end{pmatrix}", "a"), ("e^{i x}", r"\cos x + i \sin x"), ("2x = 2y", "x = y"),
]


def test_pooled_and_cached_equal_the_plain_computation() -> None:
    from formulaforge.evaluation.metrics.formula_aware import clear_caches

    preds = [p for p, _ in _SPEED_SAMPLE] * 2
    refs = [r for _, r in _SPEED_SAMPLE] * 2
    plain = plain_sym_metrics(preds, refs)
    plain_equiv, plain_converted = plain["sym_equiv"], plain["sym_converted"]
    clear_caches()
    serial = formula_metrics(preds, refs, workers=1)
    warm = formula_metrics(preds, refs, workers=1)  # answered from the conversion cache
    clear_caches()
    pooled = formula_metrics(preds, refs, workers=2)
    assert serial["sym_equiv"] == pytest.approx(plain_equiv)
    assert serial["sym_converted"] == pytest.approx(plain_converted)
    assert 0 < plain_converted < 1 and 0 < plain_equiv < 1  # the sample exercises both outcomes
    assert serial == warm == pooled


def test_sets_and_membership_are_refused_not_misread() -> None:
    # latex2sympy read these (sets as FiniteSet, "a \\approx b" as "b"); a metric must not guess.
    for latex in (r"S = \{ 0, 1 \}", r"x \in A", r"a \approx b", r"x^{T} A x"):
        assert to_sympy(latex) is None, latex


def test_operators_are_compared_as_written() -> None:
    same = symbolically_equal(to_sympy(r"\sum_{i=1}^{n} (a_i + b_i) + 1"), to_sympy(r"1 + \sum_{i=1}^n (b_i + a_i)"))
    assert same is True
    # an identity between a sum and its closed form is not proven (docs/evaluation.md)
    assert symbolically_equal(to_sympy(r"\sum_{i=1}^n i"), to_sympy(r"\frac{n(n+1)}{2}")) is False
    assert symbolically_equal(to_sympy(r"\int_0^1 f(x) dx"), to_sympy(r"\int_0^2 f(x) dx")) is False


def test_chains_compare_link_by_link() -> None:
    assert symbolically_equal(to_sympy("x + 1 = y = 2z"), to_sympy("1 + x = y = z + z")) is True
    # links are compared in order: the same equalities written in another order do not match
    assert symbolically_equal(to_sympy("x = y = z"), to_sympy("y = x = z")) is False
    assert symbolically_equal(to_sympy("x = y = z"), to_sympy("x = y = w")) is False
    assert symbolically_equal(to_sympy(r"0 < x \leq 1"), to_sympy(r"0 < x")) is False
    assert symbolically_equal(to_sympy(r"y > x"), to_sympy(r"x < y")) is True


def test_bold_symbols_do_not_commute() -> None:
    assert symbolically_equal(to_sympy(r"\mathbf{A}\mathbf{x}"), to_sympy(r"\mathbf{x}\mathbf{A}")) is False
    assert symbolically_equal(to_sympy(r"\mathbf{A}\mathbf{x} + b"), to_sympy(r"b + \mathbf{A}\mathbf{x}")) is True


@pytest.mark.parametrize(
    ("pred", "ref"),
    [
        (r"\sin^2 x + \cos^2 x", "1"),
        ("(x+1)^2", "x^2 + 2x + 1"),
        (r"f(x) + g(y)", r"g(y) + f(x)"),  # undefined functions get concrete values, consistently
        (r"\frac{1}{1-(x+y)}", r"\frac{1}{1-(y+x)}"),
        (r"\frac{a}{b} + \frac{c}{b}", r"\frac{a+c}{b}"),
    ],
)
def test_numeric_precheck_never_calls_an_equal_pair_different(pred: str, ref: str) -> None:
    import random

    from formulaforge.evaluation.metrics.formula_aware import _numerically_zero

    a, b = to_sympy(pred), to_sympy(ref)
    assert a is not None and b is not None
    assert _numerically_zero(a - b, random.Random(0)) is not False
    assert symbolically_equal(a, b) is True


def test_numeric_precheck_settles_unequal_pairs_without_simplify(monkeypatch: pytest.MonkeyPatch) -> None:
    import sympy

    def no_simplify(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("simplify called on a pair that differs numerically")

    pairs = [("x^2", "x^3"), ("f(x) = y", "f(x) = 2y + 1"), ("x = y", "x = y^2")]
    converted = [(to_sympy(p), to_sympy(r)) for p, r in pairs]
    monkeypatch.setattr(sympy, "simplify", no_simplify)
    for a, b in converted:
        assert symbolically_equal(a, b) is False


def test_equation_ratio_is_still_checked_symbolically() -> None:
    # 2f(x) = 2y and f(x) = y: lhs - rhs differ by the factor 2 (numerically constant -> simplify confirms)
    assert symbolically_equal(to_sympy("2 f(x) = 2 y"), to_sympy("f(x) = y")) is True
    assert symbolically_equal(to_sympy("x + y = 0"), to_sympy("x = y")) is False


def test_time_limit_still_bounds_simplify(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import sympy

    def slow_simplify(expr: object, *_args: object, **_kwargs: object) -> object:
        while True:  # a simplify that never returns (and burns CPU): only the time limit can stop it
            sum(range(10_000))

    a, b = to_sympy("(x+1)^2"), to_sympy("x^2 + 2x + 1")  # numerically equal, so simplify must confirm
    monkeypatch.setattr(sympy, "simplify", slow_simplify)
    started = time.process_time()
    assert symbolically_equal(a, b, timeout=0.3) is False
    assert time.process_time() - started < 1.0  # CPU-time limit (load-independent), 0.3 s
