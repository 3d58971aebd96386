"""The strict LaTeX -> sympy reader: its conventions, its refusals, and an independent oracle."""

from __future__ import annotations

import time

import pytest
import sympy

from formulaforge.formula import normalize_tokens
from formulaforge.formula.sympy_reader import Unsupported, read_sympy
from formulaforge.formula.to_sympy import sympy_tokens

x, y, n, i, a, b = sympy.symbols("x y n i a b")
f = sympy.Function("f")


def read(latex: str) -> sympy.Basic:
    return read_sympy(list(sympy_tokens(latex)))


@pytest.mark.parametrize(
    ("latex", "expected"),
    [
        ("2x + 3", 2 * x + 3),
        ("3.25", sympy.Rational(13, 4)),
        (r"\frac 12 x", x / 2),
        (r"\frac{a+b}{2}^2", ((a + b) / 2) ** 2),
        ("x^12", x * 2),  # TeX: the script takes one token
        ("x^{12}", x**12),
        (r"\sqrt[3]{x} \sqrt{y}", sympy.root(x, 3) * sympy.sqrt(y)),
        (r"\sin 2x", sympy.sin(2 * x)),
        (r"\sin x \cos y", sympy.sin(x) * sympy.cos(y)),
        (r"\sin^2 x", sympy.sin(x) ** 2),
        (r"\log x", sympy.log(x)),  # natural, as in the ML literature (latex2sympy: base 10)
        (r"\log_2 n", sympy.log(n, 2)),
        (r"\arctan(x)", sympy.atan(x)),
        ("e^{-x}", sympy.exp(-x)),
        (r"\mathrm{e}^{x}", sympy.exp(x)),
        ("f(x)", f(x)),
        ("a(b+x)", a * (b + x)),  # not a function letter: a product
        ("B(x, y)", sympy.Function("B")(x, y)),  # a comma: arguments
        (r"\sigma(x)", sympy.Function("sigma")(x)),
        ("x_i + x_{i}", 2 * sympy.Symbol("x_{i}")),
        (r"\hat{x} - \hat x", 0),
        ("n!", sympy.factorial(n)),
        (r"\binom{n}{2}", sympy.binomial(n, 2)),
        ("|x - y|", sympy.Abs(x - y)),
        (r"\max(a, b)", sympy.Max(a, b)),
        (r"a \cdot b / x", a * b / x),
        (r"-x^2", -(x**2)),
        (r"\pi x + \infty", sympy.pi * x + sympy.oo),
        (r"\sum_{i=1}^{n} i^2 + 1", sympy.Sum(i**2, (i, 1, n)) + 1),
        (r"\int_0^1 x^2 \, dx", sympy.Integral(x**2, (x, 0, 1))),
        (r"\int f(x) \mathrm{d} x", sympy.Integral(f(x), x)),
        (r"\lim_{x \to 0} f(x)", sympy.Limit(f(x), x, 0)),
        ("x = y", sympy.Eq(x, y)),
        (r"x \geq y", sympy.Le(y, x)),
        ("x > y", sympy.Lt(y, x)),
        (r"a &= b \label{eq:1}", sympy.Eq(a, b)),
        (r"0 < x \leq 1", sympy.Tuple(sympy.Lt(0, x), sympy.Le(x, 1))),
    ],
)
def test_reads(latex: str, expected: object) -> None:
    assert read(latex) == expected


@pytest.mark.parametrize(
    "latex",
    [
        r"a \approx b",  # latex2sympy: b
        r"x^{T} y",  # latex2sympy: x*y
        r"f^{-1}(x)",  # latex2sympy: 1/f(x)
        r"f^2(x)",
        r"w^{(s)}",  # an index, not a power
        r"x^* + y",
        r"\frac{d}{dx} f(x)",
        r"\frac{\partial f}{\partial x}",
        r"\sum_i a_i",  # no bounds
        r"\int f(x)",  # no differential
        r"\sin^{-1} x",  # inverse or reciprocal?
        r"x \in A",
        r"S = \{1, 2\}",
        r"a_1 + \ldots + a_n",
        r"a \pm b",
        r"(a, b)",
        r"\mathbb{E}[X]",
        r"\begin{cases} 1 \\ 0 \end{cases}",
        r"x = 1 \text{ if } y",
        r"\mathrm{d} x",
        "",
    ],
)
def test_refuses_what_it_cannot_read_soundly(latex: str) -> None:
    with pytest.raises(Unsupported):
        read_sympy(list(sympy_tokens(latex)))


def test_bold_symbols_are_noncommutative() -> None:
    expr = read(r"\mathbf{A}\mathbf{x}")
    assert not expr.is_commutative
    assert read("AB") == read("BA")  # plain capitals commute (documented limitation)


_ORACLE_FORMULAS = [
    "(x+1)^2 - 2x", r"\frac{a+b}{c}^2", r"\sqrt{x^2 + y^2}", r"\sin^2 x + \cos^2 x", r"\frac{1}{2} m v^2",
    r"e^{i\pi} + 1", r"\sum_{k=1}^{n} k^2", r"\int_0^1 x^2 dx", r"\lim_{x \to 0} \frac{\sin x}{x}", "n!",
    r"\binom{n}{k} t^k (1-t)^{n-k}", r"|x - y| \leq |x| + |y|", r"\ln(x y) = \ln x + \ln y", r"a^2 + b^2 = c^2",
    r"\frac{x^3}{3} + C", r"\exp(-\frac{x^2}{2\sigma^2})", r"\sqrt[3]{27}", r"2\pi r", r"\tan x \cos x",
    r"\theta_{t+1} = \theta_t - \eta g_t",
]


def _rebuilt(expr: sympy.Basic) -> sympy.Basic:
    """``expr`` rebuilt bottom-up with evaluation, so unevaluated products get sympy's canonical order."""
    if not expr.args or isinstance(expr, sympy.Symbol):
        return expr
    return expr.func(*[_rebuilt(arg) for arg in expr.args])


def _plain_names(expr: sympy.Basic) -> sympy.Basic:
    """Both converters' symbols renamed to their letters only (x_{i} / x_i -> xi), canonical order."""
    expr = _rebuilt(expr)
    renames = {s: sympy.Symbol("".join(ch for ch in s.name if ch.isalnum()))
               for s in expr.free_symbols if any(ch.isalnum() for ch in s.name)}  # Limit's dir '+' stays
    return expr.xreplace(renames)


def test_agrees_with_latex2sympy_on_elementary_formulas() -> None:
    """An independent implementation of LaTeX reading (math-verify's) as the oracle."""
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    from formulaforge.evaluation.metrics.formula_aware import symbolically_equal

    config = ConversionConfig(lowercase_symbols=False, interpret_contains_as_eq=False)
    for latex in _ORACLE_FORMULAS:
        ours = _plain_names(read(latex))
        theirs = _plain_names(latex2sympy(latex, conversion_config=config))
        assert symbolically_equal(ours, theirs), (latex, ours, theirs)


def _shared_formulas(limit: int) -> list[str]:
    """Display formulas (``\\[..\\]``, ``$$..$$``, equation/align bodies) of the shared LaTeX sources."""
    import re

    from conftest import shared_data_dir

    data = shared_data_dir()
    if data is None or not (data / "latex").is_dir():
        return []
    pattern = re.compile(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$|\\begin\{(?:equation|align)\*?\}(.+?)\\end\{(?:equation|align)\*?\}",
                         flags=re.DOTALL)
    found: list[str] = []
    for path in sorted((data / "latex").rglob("*.tex")):
        body = path.read_text(encoding="utf-8", errors="replace")
        found += ["".join(groups) for groups in pattern.findall(body)]
        if len(found) >= limit:
            break
    return found[:limit]


def test_real_formulas_read_or_are_refused_fast() -> None:
    formulas = _shared_formulas(3000)
    if not formulas:
        pytest.skip("shared LaTeX data not found (../shared/data/latex)")
    read_n = 0
    started = time.process_time()
    for latex in formulas:
        try:
            expr = read_sympy(normalize_tokens(latex))
        except Unsupported:
            continue
        assert isinstance(expr, sympy.Basic), latex
        read_n += 1
    spent = time.process_time() - started
    print(f"read {read_n} of {len(formulas)} real formulas in {spent:.2f} CPU-s")
    assert read_n >= len(formulas) // 100  # research prose math: a few percent are elementary
    assert spent < 3e-3 * len(formulas) + 2.0  # ~0.2 ms each; generous for a loaded machine
