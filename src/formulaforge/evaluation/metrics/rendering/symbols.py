"""The unit the render metric compares: one drawn symbol and where it sits."""

from __future__ import annotations

from typing import NamedTuple


class Symbol(NamedTuple):
    """A drawn glyph (``char``: the character, or font and glyph for TeX) or a rule (``"rule"``).

    ``x`` is the left edge, ``y`` the baseline (upwards), both in ems from the formula's
    left edge and main baseline, so they do not depend on the font size.
    """

    char: str
    x: float
    y: float
