"""Pull the formula out of a model's generated continuation.

Models wrap formulas in chat text ("Sure! Here is the formula:"), code fences, ``$``,
``\\[ \\]`` or whole environments. Metrics must score the formula, not the wrapping, or
a verbose model is punished for politeness and a terse one rewarded for luck. The caller
passes only the *continuation* (generated tokens), never the prompt, so nothing echoed
from the context can be mistaken for an answer.

Rules, in order: the first fenced code block's body; else the first display formula
(``$$..$$``, ``\\[..\\]``, a display environment); else the first inline ``$..$`` /
``\\(..\\)``; else the first non-empty line after dropping a chat preamble. Then labels,
tags and a trailing full stop or comma are removed. No formula found -> ``""``.
"""

from __future__ import annotations

import re

_DISPLAY_ENVS = (
    "equation", "align", "gather", "multline", "eqnarray", "flalign", "alignat", "displaymath", "math",
    "split", "aligned", "gathered",
)
_ENV_NAMES = "|".join(_DISPLAY_ENVS)
_FENCE = re.compile(r"```[ \t]*[A-Za-z]*[ \t]*\n?(.*?)(?:```|$)", re.S)
_DISPLAY = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\begin\{(" + _ENV_NAMES + r")\*?\}(?:\{[^}]*\})?(.+?)\\end\{\3\*?\}",
    re.S,
)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$|\\\((.+?)\\\)", re.S)
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok)[!,.]?\s*)?"
    r"(?:(?:here\s+is|here's|the)\s+(?:the\s+)?(?:\w+\s+){0,3}?(?:formula|equation|expression|answer|latex)"
    r"(?:\s+is)?\s*[:\-]?\s*|(?:formula|equation|answer|output|latex)\s*[:\-]\s*)",
    re.I,
)
_STRIP_CMDS = re.compile(r"\\(?:label|tag\*?)\s*\{[^{}]*\}|\\(?:nonumber|notag)\b")
_STOP_MARKERS = re.compile(r"<\|[a-z_]+\|>|</s>|<\|im_end\|>|<\|endoftext\|>")


def _clean(formula: str) -> str:
    formula = _STRIP_CMDS.sub("", formula)
    formula = formula.strip()
    formula = re.sub(r"\s*[.,;]\s*$", "", formula)  # sentence punctuation after a formula
    return re.sub(r"\s+", " ", formula).strip()


def extract_formula(continuation: str) -> str:
    """The formula in ``continuation`` (model output only), or ``""`` when there is none."""
    text = _STOP_MARKERS.split(continuation, maxsplit=1)[0]
    fence = _FENCE.search(text)
    if fence:
        inner = fence.group(1)
        found = _first_math(inner)
        return _clean(found if found is not None else inner)
    found = _first_math(text)
    if found is not None:
        return _clean(found)
    for line in text.splitlines():
        line = _PREAMBLE.sub("", line).strip()
        if line and re.search(r"[\\=^_+\-*/<>(){}\[\]0-9]|^[A-Za-z]$", line):
            return _clean(line)
    return ""


def _first_math(text: str) -> str | None:
    display = _DISPLAY.search(text)
    inline = _INLINE.search(text)
    candidates = []
    if display:
        body = next(g for g in (display.group(1), display.group(2), display.group(4)) if g is not None)
        candidates.append((display.start(), body))
    if inline:
        body = inline.group(1) if inline.group(1) is not None else inline.group(2)
        candidates.append((inline.start(), body))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])[1]
