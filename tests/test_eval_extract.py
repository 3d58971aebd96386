from __future__ import annotations

import pytest

from formulaforge.evaluation.extract import extract_formula

CASES = [
    ("Sure! Here is the formula: $E = mc^2$.", "E = mc^2"),
    ("```latex\n\\frac{a}{b}\n```", "\\frac{a}{b}"),
    ("```\n$$ x + y $$\n```\nThis is the sum.", "x + y"),
    ("The equation is\n\\[ x^2 + 1 = 0 \\]\nwhich has no real root.", "x^2 + 1 = 0"),
    ("\\begin{equation}\\label{eq:main} a = b \\end{equation}", "a = b"),
    ("\\begin{align*}\n a &= b \\\\\n c &= d\n\\end{align*}", "a &= b \\\\ c &= d"),
    ("a + b = c", "a + b = c"),
    ("Formula: \\sum_i x_i<|im_end|> trailing junk $y$", "\\sum_i x_i"),
    ("First $a = 1$, then $$b = 2$$.", "a = 1"),  # several formulas: the first
    ("x_1 + x_2 .\n\nExplanation: the sum of both.", "x_1 + x_2"),
    ("The price is \\$5 and $p = 5$", "p = 5"),  # escaped dollar is not a delimiter
    ("\\( \\alpha \\tag{3} \\)", "\\alpha"),
]


@pytest.mark.parametrize(("output", "expected"), CASES)
def test_extracts_formula_from_messy_output(output: str, expected: str) -> None:
    assert extract_formula(output) == expected


@pytest.mark.parametrize("output", ["", "   ", "I do not know.", "Sorry, I cannot help with that."])
def test_no_formula_gives_empty(output: str) -> None:
    assert extract_formula(output) == ""
