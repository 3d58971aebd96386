"""CDM-style rendered-formula metric (Wang et al., 2024, "CDM: A Reliable Metric for Fair
and Accurate Formula Recognition Evaluation").

String metrics punish ``x^{2}`` vs ``x^2`` and miss that ``\\frac12`` and ``\\frac{1}{2}``
draw the same thing. CDM renders both formulas, locates every drawn character and matches
characters by identity *and* position, then scores precision/recall/F1 over characters.
We do the same with the engines of :mod:`.rendering`, which report each glyph they place
(no rasterizing or OCR needed, so locating is exact):

* ``tex``: a real TeX engine (``latex`` to DVI, glyphs and rules read with
  ``matplotlib.dviread``): renders research LaTeX as its authors saw it;
* ``mathtext``: pure Python (matplotlib's mathtext, research LaTeX rewritten for it);
* ``auto`` (default): ``tex`` when ``latex`` is installed, else ``mathtext``. Scores of
  different engines are not comparable; reports name the engine (``render_engine_tex``).

Matching (:func:`match_count`): symbols are read left to right (by left edge, then top to
bottom); a prediction symbol matches a reference symbol when they are the same glyph on the
same vertical level (baselines within :data:`Y_TOLERANCE` em: a superscript never matches
a subscript, a numerator never a denominator), and the matching must keep the left-to-right
order: the longest common subsequence under that test. This order constraint is our
one-dimensional stand-in for CDM's check that matched pairs agree on one spatial transform
(RANSAC): ``ab``/``ba``, ``12``/``21`` and ``x_{ij}``/``x_{ji}`` score below 1, while an
inserted symbol costs only itself, not everything drawn after it. Precision = matched /
prediction symbols, recall = matched / reference symbols, F1 their harmonic mean; "exact"
= every symbol matched on both sides.

Unrendered formulas are never scored silently: a pair whose *reference* the engine cannot
render is left out of the means and counted in ``render_unrendered_ref``; a *prediction*
that cannot be rendered (against a rendered reference) scores 0, so a model gains nothing by
writing broken LaTeX, and is counted in ``render_unrendered_pred``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from formulaforge.evaluation.metrics.rendering import Symbol
from formulaforge.evaluation.metrics.rendering.mathtext import mathtext_symbols

Y_TOLERANCE = 0.2  # em between baselines of matching symbols (scripts sit ~0.35 em off the baseline)
ENGINES = ("auto", "tex", "mathtext")


@functools.lru_cache(maxsize=1)
def tex_available() -> bool:
    from formulaforge.evaluation.metrics.rendering.tex import tex_available as available

    return available()


def resolve_engine(engine: str = "auto") -> str:
    """``tex`` or ``mathtext`` for ``engine``; ``tex`` asked for without ``latex`` installed is an error."""
    if engine not in ENGINES:
        raise ValueError(f"unknown render engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "auto":
        return "tex" if tex_available() else "mathtext"
    if engine == "tex" and not tex_available():
        raise ValueError("render engine 'tex' needs a TeX installation (latex on PATH)")
    return engine


def render_many(formulas: Sequence[str], engine: str = "auto") -> list[tuple[Symbol, ...] | None]:
    """Symbols for each formula (``None``: the engine cannot render it); TeX renders in batches."""
    engine = resolve_engine(engine)
    if engine == "tex":
        from formulaforge.evaluation.metrics.rendering.tex import tex_symbols_many

        return tex_symbols_many(list(formulas))
    return [mathtext_symbols(f) if f.strip() else None for f in formulas]


def _reading_order(symbols: Sequence[Symbol]) -> list[Symbol]:
    return sorted(symbols, key=lambda s: (s.x, -s.y, s.char))


def match_count(pred: Sequence[Symbol], ref: Sequence[Symbol], y_tolerance: float = Y_TOLERANCE) -> int:
    """Largest order-preserving matching of same-glyph symbols on the same vertical level (see module)."""
    a, b = _reading_order(pred), _reading_order(ref)
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for p in a:
        current = [0] * (len(b) + 1)
        for j, r in enumerate(b, start=1):
            if p.char == r.char and abs(p.y - r.y) <= y_tolerance:
                current[j] = previous[j - 1] + 1
            else:
                current[j] = max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def score_symbols(pred: tuple[Symbol, ...] | None, ref: tuple[Symbol, ...] | None) -> dict[str, Any]:
    """``{"f1", "precision", "recall", "exact", "unrendered"}`` for rendered symbol lists.

    ``unrendered`` is ``"reference"`` (scores ``None``: the pair is not scored),
    ``"prediction"`` (scores 0) or ``None``.
    """
    if ref is None:
        return {"f1": None, "precision": None, "recall": None, "exact": None, "unrendered": "reference"}
    if pred is None:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "exact": False, "unrendered": "prediction"}
    matched = match_count(pred, ref)
    precision, recall = matched / len(pred), matched / len(ref)
    f1 = 2 * matched / (len(pred) + len(ref))
    return {"f1": f1, "precision": precision, "recall": recall,
            "exact": matched == len(pred) == len(ref), "unrendered": None}


def render_pair(prediction: str, reference: str, engine: str = "auto") -> dict[str, Any]:
    """:func:`score_symbols` of one prediction/reference pair rendered by ``engine``."""
    pred, ref = render_many([prediction, reference], engine)
    return score_symbols(pred, ref)


def render_metrics(predictions: Sequence[str], references: Sequence[str], engine: str = "auto") -> dict[str, float]:
    """Corpus values: ``render_f1`` and ``render_exact`` (means over pairs whose reference rendered),
    ``render_unrendered_ref`` / ``render_unrendered_pred`` (pair counts) and ``render_engine_tex``
    (1.0 when TeX rendered, 0.0 for mathtext)."""
    if len(predictions) != len(references) or not references:
        raise ValueError("render_metrics needs equally many predictions and references (at least one)")
    engine = resolve_engine(engine)
    distinct = list(dict.fromkeys([*references, *predictions]))
    rendered = dict(zip(distinct, render_many(distinct, engine)))
    rows = [score_symbols(rendered[p] if p.strip() else None, rendered[r]) for p, r in zip(predictions, references)]
    scored = [r for r in rows if r["unrendered"] != "reference"]
    n = len(scored)
    return {
        "render_f1": sum(r["f1"] for r in scored) / n if n else float("nan"),
        "render_exact": sum(bool(r["exact"]) for r in scored) / n if n else float("nan"),
        "render_unrendered_ref": float(len(rows) - n),
        "render_unrendered_pred": float(sum(r["unrendered"] == "prediction" for r in rows)),
        "render_engine_tex": 1.0 if engine == "tex" else 0.0,
    }
