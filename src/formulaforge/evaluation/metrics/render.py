"""A rendered-image formula metric in the spirit of CDM (Wang et al., 2024).

String metrics punish ``x^{2}`` vs ``x^2`` and miss that ``\\frac{a}{b}`` and
``{a \\over b}`` draw the same thing. CDM instead renders both formulas, locates every
drawn symbol and matches symbols by identity *and* position. We do the same with
matplotlib's mathtext layout engine, which reports each glyph it places (character and
position) without rasterizing or OCR, so the metric needs no LaTeX installation and is
exact about what was drawn.

Per pair: both formulas are laid out; each glyph becomes (character, centre) with the
centre in ems from the formula's left edge and baseline (size invariant); fraction bars
and other rules become a ``rule`` symbol. Symbols are matched one-to-one by the Hungarian
algorithm (scipy) over pairs with the same character, cost = scaled distance between
centres, a pair counting only within 2 em horizontally and 0.4 em vertically. F1 = 2 * matched / (n_pred + n_ref);
"exact" = every symbol matched on both sides. A formula mathtext cannot lay out
(environments like ``pmatrix``, unknown macros) scores 0 and is counted as a render
failure, so a model cannot gain by producing unrenderable LaTeX.

Limitation, stated: mathtext covers most inline-math LaTeX but not arrays/matrices,
so those pairs land in ``render_failed``; CDM's pdflatex colour-coding is not used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

_ALIGN = re.compile(r"(?<!\\)&")
_NEWLINE = re.compile(r"\\\\(\[[^\]]*\])?")
_DROP = re.compile(r"\\(?:label|tag)\{[^{}]*\}|\\(?:nonumber|notag|displaystyle|textstyle|limits|nolimits)\b")


@dataclass(frozen=True)
class Symbol:
    char: str
    x: float
    y: float


def _prepare(latex: str) -> str:
    latex = _DROP.sub("", latex)
    latex = _ALIGN.sub(" ", latex)
    latex = _NEWLINE.sub(r"\\quad ", latex)
    return " ".join(latex.split())


@functools.lru_cache(maxsize=65536)
def layout_symbols(latex: str) -> tuple[Symbol, ...] | None:
    """The symbols mathtext draws for ``latex`` with normalized centres; ``None`` if it cannot."""
    text = _prepare(latex)
    if not text:
        return None
    try:
        width, height, depth, glyphs, rects = _PARSER.parse(f"${text}$", dpi=72)
    except Exception:  # noqa: BLE001 - any layout failure is a render failure
        return None
    raw: list[tuple[str, float, float]] = []
    sizes = []
    for glyph in glyphs:
        font, size, code, _index, ox, oy = glyph[:6]
        sizes.append(float(size))
        raw.append((chr(code), float(ox) + 0.3 * float(size), float(oy) + 0.35 * float(size)))
    for x, y, w, h in rects:
        raw.append(("rule", float(x) + float(w) / 2, float(y) + float(h) / 2))
    if not raw:
        return None
    em = max(sizes) if sizes else 10.0
    x0 = min(r[1] for r in raw)
    # mathtext reports glyph origins relative to the baseline, y growing upwards.
    return tuple(Symbol(c, (x - x0) / em, y / em) for c, x, y in raw)


def _parser():  # noqa: ANN202 - matplotlib type
    from matplotlib.mathtext import MathTextParser

    return MathTextParser("path")


class _LazyParser:
    _inner = None

    def parse(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if self._inner is None:
            self._inner = _parser()
        return self._inner.parse(*args, **kwargs)


_PARSER = _LazyParser()


def match_count(
    pred: Sequence[Symbol], ref: Sequence[Symbol], x_tolerance: float = 2.0, y_tolerance: float = 0.4
) -> int:
    """Size of the best one-to-one matching of same-character symbols in matching places.

    Positions are in ems from the formula's left edge and baseline, so an insertion only
    shifts what follows it; ``y_tolerance`` keeps a superscript from matching a subscript.
    """
    if not pred or not ref:
        return 0
    big = 1e6
    cost = np.full((len(pred), len(ref)), big)
    for i, p in enumerate(pred):
        for j, r in enumerate(ref):
            if p.char == r.char:
                d = (((p.x - r.x) / x_tolerance) ** 2 + ((p.y - r.y) / y_tolerance) ** 2) ** 0.5
                if d <= 1.0:
                    cost[i, j] = d
    rows, cols = linear_sum_assignment(cost)
    return int(sum(1 for i, j in zip(rows, cols) if cost[i, j] < big))


def render_pair(prediction: str, reference: str) -> dict[str, float | bool]:
    """``{"f1", "exact", "failed"}`` for one prediction/reference pair."""
    ref = layout_symbols(reference)
    pred = layout_symbols(prediction) if prediction.strip() else None
    if ref is None or pred is None:
        return {"f1": 0.0, "exact": False, "failed": True}
    matched = match_count(pred, ref)
    f1 = 2 * matched / (len(pred) + len(ref))
    return {"f1": f1, "exact": matched == len(pred) == len(ref), "failed": False}


def render_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus means: ``render_f1``, ``render_exact`` (share), ``render_failed`` (share)."""
    if len(predictions) != len(references) or not references:
        raise ValueError("render_metrics needs equally many predictions and references (at least one)")
    rows = [render_pair(p, r) for p, r in zip(predictions, references)]
    n = len(rows)
    return {
        "render_f1": sum(float(r["f1"]) for r in rows) / n,
        "render_exact": sum(bool(r["exact"]) for r in rows) / n,
        "render_failed": sum(bool(r["failed"]) for r in rows) / n,
    }
