"""Checks every emitted triplet must pass (the builder filters with them; tests assert them)."""

from __future__ import annotations

import re

_DISPLAY_MARK = re.compile(
    r"(?<!\\)\$\$|(?<!\\)\\\[|(?<!\\)\\\]|\\begin\s*\{(?:equation|align|gather|multline|eqnarray|flalign|alignat|"
    r"displaymath|dmath)\*?\}|\\end\s*\{(?:equation|align|gather|multline|eqnarray|flalign|alignat|displaymath|dmath)\*?\}"
)
_LABELISH = re.compile(r"\\(label|nonumber|notag|tag)(?![A-Za-z@])")
_DOLLAR = re.compile(r"(?<!\\)\$")


def _unescaped_balance(text: str) -> int:
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return -1
        i += 1
    return depth


def formula_problems(formula: str) -> list[str]:
    """Why a formula is unusable (empty list: fine)."""
    problems = []
    if not formula.strip():
        problems.append("empty formula")
    if _LABELISH.search(formula):
        problems.append("\\label/\\tag/\\nonumber left in formula")
    if _DISPLAY_MARK.search(formula.replace("\\\\", "  ")):
        problems.append("math delimiter left in formula")
    if _DOLLAR.search(formula.replace("\\\\", "  ")):
        problems.append("$ inside formula")
    if _unescaped_balance(formula) != 0:
        problems.append("unbalanced braces in formula")
    return problems


def context_problems(context: str) -> list[str]:
    """A context must not contain a display formula (inline ``$...$`` is fine)."""
    problems = []
    if _DISPLAY_MARK.search(context.replace("\\\\", "  ")):
        problems.append("display formula inside context")
    return problems
