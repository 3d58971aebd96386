"""Decide per request whether it is about formulas, so the gate turns the plugins on.

The D- and Q-plugins were trained on formula data; a request gets them when it is a
formula task or contains LaTeX math. Callers can always override with an explicit bool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FORMULA_TASKS = frozenset({"formula", "formula_generation", "formula-generation", "formula_completion", "latex"})

_MATH_PATTERNS = [
    re.compile(r"(?<!\\)\$\$.+?(?<!\\)\$\$", re.DOTALL),  # $$ ... $$
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$(?!\d)"),  # $ ... $ (not "$5 and $6")
    re.compile(r"\\\(.+?\\\)", re.DOTALL),  # \( ... \)
    re.compile(r"\\\[.+?\\\]", re.DOTALL),  # \[ ... \]
    re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray|displaymath|math)\*?\}"),
    re.compile(r"\\(frac|sum|int|sqrt|alpha|beta|gamma|mathbb|mathcal|partial|nabla|infty|cdot|left|right)\b"),
]


def has_latex_math(text: str) -> bool:
    """True when ``text`` holds LaTeX math: delimiters, math environments or common macros."""
    return any(p.search(text) for p in _MATH_PATTERNS)


def is_formula_request(text: str, task: str | None = None, override: bool | None = None) -> bool:
    """The routing decision for one request; ``override`` wins when given."""
    if override is not None:
        return bool(override)
    if task is not None and task.strip().lower() in FORMULA_TASKS:
        return True
    return has_latex_math(text)


def route(
    texts: Sequence[str], tasks: Sequence[str | None] | None = None, overrides: Sequence[bool | None] | None = None
) -> list[bool]:
    """One gate value per request of a batch."""
    n = len(texts)
    tasks = list(tasks) if tasks is not None else [None] * n
    overrides = list(overrides) if overrides is not None else [None] * n
    if len(tasks) != n or len(overrides) != n:
        raise ValueError("texts, tasks and overrides must have the same length")
    return [is_formula_request(t, k, o) for t, k, o in zip(texts, tasks, overrides, strict=True)]
