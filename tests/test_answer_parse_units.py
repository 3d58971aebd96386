"""``evaluation/answers/parse.py`` rule by rule, expected values written by hand (issue 22).

The rewrites of ``normalize_latex`` are plain string functions, so their outputs are written out
whole; ``parse_plain`` is checked against sympy objects built directly, never through the parser.
"""

from __future__ import annotations

import pytest
import sympy
from sympy import Eq, Function, Integer, Rational, Symbol, cos, sqrt

from formulaforge.evaluation.answers import parse as p

x, y, t = Symbol("x"), Symbol("y"), Symbol("t")


def test_looks_latex() -> None:
    assert p.looks_latex(r"\frac12") and p.looks_latex("x^{2}") and not p.looks_latex("2*x + 1")


@pytest.mark.parametrize(("text", "want"), [
    (r"\operatorname{atan}(x)", r"\arctan(x)"),
    (r"\operatorname{sinh} x", r"\sinh x"),
    (r"\operatorname{foo}(x)", r"\operatorname{foo}(x)"),
    (r"\log x + \log_2 y + \logx", r"\ln x + \log_2 y + \logx"),
    (r"1,000.99 \text{ m}^2", "1,000.99"),
    (r"5\,\mathrm{kg}", "5"),
    (r"\text{m}", r"\text{m}"),  # a unit alone is left for the parser to refuse
    (r"1410 \text{ apples} + 1", "1410   + 1"),
    (r"\text{1410}", "1410"),
    ("f''(x)", r"\frac{d}{d x} \frac{d}{d x} f(x)"),
    ("g'(t)", r"\frac{d}{d t} g(t)"),
    (r"f^{\prime}(x)", r"\frac{d}{d x} f(x)"),
    (r"\frac{d^2}{dx^2} x^3", r"\frac{d}{d x} \frac{d}{d x}  x^3"),
    (r"\ln{(x)}^{2}", r"\left(\ln{(x)}\right)^{2}"),
    (r"\exp{x}^2 + \ln{(y)}", r"\left(\exp{x}\right)^2 + \ln{(y)}"),
    (r"\log{(x)}", r"\ln{(x)}"),
])
def test_normalize_latex_by_hand(text: str, want: str) -> None:
    assert p.normalize_latex(text) == want


def test_power_after_group_needs_a_group_and_a_power() -> None:
    assert p._power_after_group(r"\ln x^2") == r"\ln x^2"
    assert p._power_after_group(r"\ln{x") == r"\ln{x"  # unclosed: left alone
    assert p._power_after_group(r"\ln{a{b}}^3") == r"\left(\ln{a{b}}\right)^3"
    assert p._power_after_group(r"\ln") == r"\ln"


@pytest.mark.parametrize(("text", "want"), [
    ("2*x*cos(x**2)", 2 * x * cos(x**2)),
    ("2x + 1", 2 * x + 1),
    ("x^2", x**2),
    ("3/4", Rational(3, 4)),
    ("sqrt(2)", sqrt(2)),
    ("\u22125", Integer(-5)),
    ("2\u00b7y", 2 * y),
    ("y = 2x", Eq(y, 2 * x, evaluate=False)),
    ("f(x) + 1", Function("f")(x) + 1),
    ("E", sympy.E),
])
def test_parse_plain_by_hand(text: str, want: sympy.Basic) -> None:
    got = p.parse_plain(text)
    assert got == want, (text, got)


@pytest.mark.parametrize("text", [
    "", "   ", "x" * (p.MAX_LEN + 1), "import os", "__class__", "a = b = c", "(7,6)", "2, 3", "x; y",
    "foo(x)", "x @ y",
])
def test_parse_plain_refuses(text: str) -> None:
    assert p.parse_plain(text) is None


def test_parse_plain_keeps_integral_arguments() -> None:
    assert p.parse_plain("Integral(x, x)") == sympy.Integral(x, x)


def test_prime_to_frac_orders() -> None:
    m = p._PRIME.search("h'''(s)")
    assert m is not None and p._prime_to_frac(m) == r"\frac{d}{d s} " * 3 + "h(s)"


def test_named_value_and_symbols() -> None:
    assert p.named_value(Eq(x, sympy.FiniteSet(3, 4), evaluate=False)) == sympy.FiniteSet(3, 4)
    pair = sympy.Tuple(Integer(1), Integer(2))
    assert p.named_value(Eq(sympy.Tuple(x, y), pair, evaluate=False)) == pair
    eq = Eq(sympy.Tuple(x, Integer(1)), pair, evaluate=False)
    assert p.named_value(eq) == eq  # not all names: left as is
    assert p.named_value(Eq(x, 3, evaluate=False)) == Eq(x, 3, evaluate=False)
    real = Symbol("x", real=True)
    e_sym = Symbol("e")
    got = p.normalize_symbols(real + e_sym)
    assert got == x + sympy.E and got.free_symbols == {x}


def test_parse_answer_order_and_limits() -> None:
    assert p.parse_answer(r"\frac{1}{2}") == Rational(1, 2)
    assert p.parse_answer("2x") == 2 * x
    assert p.parse_answer(r" x \in (2, \infty)") == sympy.Interval.open(2, sympy.oo)  # the set a variable names
    assert sympy.srepr(p.parse_answer("x = 3, 4")) == "FiniteSet(Integer(3), Integer(4))"  # latex2sympy's own class
    assert p.parse_answer("") is None and p.parse_answer("1" * (p.MAX_LEN + 1)) is None
    assert p.parse_answer("1+" * 499 + "11") == 510  # exactly MAX_LEN characters
    assert p.parse_answer(r"e^{x}") == sympy.exp(x)
    assert p.parse_answer(r"\begin{pmatrix}1 & 2\end{pmatrix}") == sympy.ImmutableMatrix([[1, 2]])
    assert p.parse_answer(r"\log{(t)}^{2}") == sympy.log(t) ** 2


def test_parse_plain_edges() -> None:
    assert p.parse_plain("1+" * 499 + "11") == 510  # exactly MAX_LEN characters: still read
    assert p.parse_plain("1+" * 500 + "1") is None  # one over
    assert p.parse_plain("ab + 1") is None  # two-letter names are not variables
    assert p.parse_plain("x == 1") is None  # Python's comparison is not an equation
    for text, lhs, rhs in (("x = x", x, x), ("2 = 2", sympy.Integer(2), sympy.Integer(2))):
        eq = p.parse_plain(text)  # kept as written, never evaluated to True
        assert isinstance(eq, sympy.Equality) and (eq.lhs, eq.rhs) == (lhs, rhs)


def test_parse_latex_normalisation_choices() -> None:
    """The math-verify options chosen in parse_latex, each visible in one input."""
    def read(text: str) -> sympy.Basic:
        return p.normalize_symbols(p.parse_latex(text))  # latex2sympy's symbols are real: names only

    assert read("4t") == 4 * t  # units=False: t is a variable, not a unit to strip
    assert p.parse_latex(r"\sqrt2") == sqrt(2) and p.parse_latex(r"\frac12") == Rational(1, 2)  # malformed ops
    assert p.parse_latex(r"\fbox{5}") == 5  # boxed="all"
    assert p.parse_latex(".5") == Rational(1, 2)  # nits: a leading decimal point, 0.5 as a fraction
    assert read("x = 5") == Eq(x, 5)


def test_parse_latex_leaves_the_callers_timer_alone() -> None:
    """parsing_timeout=None (the default): math-verify sets no alarm of its own, so a caller's
    SIGALRM timer survives the call; a timeout given is math-verify's own alarm."""
    import signal

    outer = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's alarm, put back after
    try:
        signal.setitimer(signal.ITIMER_REAL, 100)
        assert str(p.parse_latex("x + 1")) == "x + 1"
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 90
        p.parse_latex("x + 2", parsing_timeout=3)
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # math-verify's alarm replaced ours
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer)


def test_gold_from_record() -> None:
    assert p.gold_from_record(sympy.srepr(x**2 + Rational(1, 3))) == x**2 + Rational(1, 3)
