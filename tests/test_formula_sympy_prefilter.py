"""The parser-free "latex2sympy surely fails" check: it may only say False where the parser fails."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from formulaforge.formula import to_sympy
from formulaforge.formula.sympy_prefilter import _grammar, lexes, may_convert
from formulaforge.formula.to_sympy import sympy_ready

CONVERTIBLE = [
    "x = y", r"\frac{a}{b}", r"\sin^2 x + \cos^2 x", "(x+1)^2", r"x_{ij} \leq 2", r"|x| < \epsilon",
    r"\sum_{i=1}^n x_i", r"\int_0^1 x \, dx", "f(x) = x^2", "a, b, c", r"\sqrt[3]{x}", "n!",
]
# lexed fine, but with a token pair no latex2sympy sentence contains (real research formulas)
IMPOSSIBLE_PAIRS = ["z^2+1=", r"U\cap V=", r"\exp(x):=(x)", r"S:=\{0,1,2\}", r"0\to A\to B\to", "n\\cdot x=n+"]


def test_grammar_tables_are_built() -> None:
    first, follow = _grammar()
    assert len(first) > 10 and len(follow) > 50
    assert -1 in set().union(*follow.values())  # some token can end a formula (EOF follows it)


@pytest.mark.parametrize("latex", CONVERTIBLE)
def test_convertible_formulas_pass(latex: str) -> None:
    ready = sympy_ready(latex)
    assert ready is not None and to_sympy(latex) is not None
    assert may_convert(ready) is True


@pytest.mark.parametrize("latex", IMPOSSIBLE_PAIRS)
def test_impossible_token_pairs_are_rejected_and_really_fail(latex: str) -> None:
    ready = sympy_ready(latex)
    assert ready is not None and lexes(ready)  # the lexer alone would not catch these
    assert may_convert(ready) is False
    assert to_sympy(latex) is None


def _shared_formulas(limit: int) -> list[str]:
    repo = Path(__file__).resolve().parents[1]
    for root in (os.environ.get("FORMULAFORGE_SHARED"), repo.parent / "shared", Path("/work/shared")):
        if root and (Path(root) / "data" / "latex").is_dir():
            found: list[str] = []
            for path in sorted((Path(root) / "data" / "latex").rglob("*.tex"))[:60]:
                body = path.read_text(encoding="utf-8", errors="replace")
                found += [a or b for a, b in re.findall(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$", body, flags=re.DOTALL)]
            return found[:limit]
    return []


def test_never_rejects_what_latex2sympy_converts_on_real_formulas() -> None:
    formulas = _shared_formulas(250)
    if not formulas:
        pytest.skip("shared LaTeX data not found (FORMULAFORGE_SHARED, ../shared, /work/shared)")
    rejected_by_pairs = 0
    for f in formulas:
        ready = sympy_ready(f)
        if ready is None or may_convert(ready):
            continue
        rejected_by_pairs += lexes(ready)
        assert to_sympy(f) is None, f
    assert rejected_by_pairs >= 5  # the pair check, not only the lexer, is exercised
