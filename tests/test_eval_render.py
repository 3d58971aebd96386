"""The CDM-style render metric on both engines (issue 16): research LaTeX renders, identical
drawings score exactly 1, transpositions and swapped scripts score below 1, and an
unrenderable formula is counted, never scored 0 against itself."""

from __future__ import annotations

import importlib.util
import math
import random
import sys

import pytest
from conftest import REPO, shared_data_dir

from formulaforge.evaluation.metrics.render import render_metrics, render_pair, resolve_engine, tex_available
from formulaforge.evaluation.metrics.rendering.mathtext import mathtext_symbols

ENGINES = [
    "mathtext",
    pytest.param("tex", marks=pytest.mark.skipif(not tex_available(), reason="no TeX installation (latex)")),
]
SAME_DRAWING = [
    (r"\frac12", r"\frac{1}{2}"), (r"\left( x \right)", "(x)"), (r"a\,b\;c\quad d", "a b c d"),
    (r"x \le y", r"x\leq y"), (r"\dfrac{a}{b}", r"\frac{a}{b}"), ("x^{2}", "x^2"), (r"\sqrt 2", r"\sqrt{2}"),
    (r"\bigl( a \bigr)", "(a)"), (r"\lvert x \rvert", "|x|"), (r"\lVert x \rVert", r"\| x \|"),
    (r"a \coloneqq b", "a := b"),
]
DIFFERENT_DRAWING = [
    ("ab", "ba"), ("12", "21"), ("x_{ij}", "x_{ji}"), ("x^2", "x_2"), (r"\frac{a}{b}", r"\frac{b}{a}"),
    ("x^{a}_{b}", "x^{b}_{a}"), ("a+b", "a-b"), (r"\sum_{i=1}^{n}", r"\sum_{i=n}^{1}"),
]
RESEARCH = [
    r"\bigl( f \bigr) \coloneqq \lvert x \rvert + \lVert y \rVert \le \frac12 \sqrt 2 + \nicefrac{1}{2}",
    r"\operatorname{Tr}(A) \in \mathbb{R}, \quad \mathcal{L}_\theta = \mathbb{E}_{x}\bigl[\log p_\theta(x)\bigr]",
    r"\begin{pmatrix} a & b \\ c & d \end{pmatrix} \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}",
    r"a &= b \\ &\le c \nonumber",
    r"\R \norm{x} \eqdef \inf_{y \in \Y} \dotp{x}{y}",  # a paper's own macros
    r"\begin{split} f(x) &= \sum_{k=0}^\infty \tfrac{x^k}{k!} \\ &= e^x \end{split}",
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("pred", "ref"), SAME_DRAWING)
def test_same_drawing_scores_exactly_one(engine: str, pred: str, ref: str) -> None:
    out = render_pair(pred, ref, engine)
    assert out["f1"] == 1.0 and out["exact"] and out["unrendered"] is None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("pred", "ref"), DIFFERENT_DRAWING)
def test_transpositions_and_swapped_scripts_score_below_one(engine: str, pred: str, ref: str) -> None:
    out = render_pair(pred, ref, engine)
    assert out["unrendered"] is None
    assert 0 < out["f1"] < 1 and not out["exact"]


@pytest.mark.parametrize("engine", ENGINES)
def test_insertion_costs_only_itself(engine: str) -> None:
    out = render_pair("a+b", "a+b+c", engine)
    assert out["precision"] == 1.0 and out["recall"] == pytest.approx(3 / 5)
    assert out["f1"] == pytest.approx(0.75)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("latex", RESEARCH)
def test_research_latex_renders(engine: str, latex: str) -> None:
    out = render_pair(latex, latex, engine)
    assert out["unrendered"] is None and out["f1"] == 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_unrendered_is_counted_not_scored_zero(engine: str) -> None:
    broken = r"\begin{pmatrix} a & b"  # an environment that never ends
    alone = render_pair(broken, broken, engine)
    assert alone["unrendered"] == "reference" and alone["f1"] is None
    out = render_metrics([broken, broken, "x+1", ""], [broken, "a", "x+1", "y"], engine)
    assert out["render_unrendered_ref"] == 1 and out["render_unrendered_pred"] == 2
    assert out["render_f1"] == pytest.approx(1 / 3)  # the three scored pairs: 0, 1, 0
    assert out["render_engine_tex"] == (1.0 if engine == "tex" else 0.0)
    assert math.isnan(render_metrics([broken], [broken], engine)["render_f1"])


def test_engine_names_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown render engine"):
        resolve_engine("mathjax")
    with pytest.raises(ValueError):
        render_metrics(["a"], [])


def test_tex_refuses_commands_with_side_effects() -> None:
    if not tex_available():
        pytest.skip("no TeX installation (latex)")
    from formulaforge.evaluation.metrics.rendering.tex import tex_body

    for hostile in [r"\input{/etc/passwd}", r"\text{\input{x}}", r"\def\x{\x}\x", r"\^^69nput{x}", r"a # b",
                    r"\immediate\write18{ls}", r"\catcode`\%=11"]:
        assert tex_body(hostile) is None, hostile
    assert tex_body(r"\text{if $x>0$} x") is not None


def _corpus_sample(name: str, n: int) -> list[str]:
    data = shared_data_dir()
    if data is None or not (data / "latex" / name).is_dir():
        pytest.skip(f"shared LaTeX corpus {name} not found (set FORMULAFORGE_SHARED)")
    spec = importlib.util.spec_from_file_location("bench_formula", REPO / "bench" / "bench_formula.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "bench"))  # as when the bench runs as a script (it imports shared_data)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    formulas = module.extract(data / "latex" / name)
    random.Random(0).shuffle(formulas)
    return formulas[:n]


def test_mathtext_renders_research_references() -> None:
    sample = _corpus_sample("ra", 60)  # 55 % of ra failed before issue 16
    rendered = sum(mathtext_symbols(f) is not None for f in sample)
    print(f"\nmathtext rendered {rendered}/{len(sample)} ra references")
    assert rendered >= 0.98 * len(sample)


def test_tex_renders_research_references() -> None:
    if not tex_available():
        pytest.skip("no TeX installation (latex)")
    from formulaforge.evaluation.metrics.rendering.tex import tex_symbols_many

    sample = _corpus_sample("ra", 200)
    rendered = sum(s is not None for s in tex_symbols_many(sample))
    print(f"\nTeX rendered {rendered}/{len(sample)} ra references")
    assert rendered >= 0.98 * len(sample)
