"""Tokenizer and normalizer: token classes, canonical spelling, idempotence (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formulaforge.formula import join_tokens, normalize, normalize_tokens, tokenize

# Pieces of research LaTeX, glued at random by hypothesis: commands with and without
# arguments, scripts, delimiters, sizing, spacing, synonyms, text, environments, garbage.
PIECES = [
    "x", "y", "ab", "1", "23", "3.14", "+", "-", "=", "<", ",", ";", ":", "!", "'", "|", "&", "*",
    "^", "_", "{", "}", "(", ")", "[", "]", "^{2}", "_{i}", "^{12}", "_{ij}", "^{\\prime}", "^\\prime",
    "\\frac", "\\dfrac{a}{b}", "\\frac12", "\\sqrt[3]{x}", "\\sqrt", "\\left(", "\\right)", "\\left.",
    "\\right|", "\\big(", "\\Bigr]", "\\,", "\\!", "\\quad", "\\ ", "~", "\\le", "\\geq", "\\ne",
    "\\lbrace", "\\rbrace", "\\{", "\\}", "\\|", "\\vert", "\\cdot", "\\times", "\\alpha", "\\alpha x",
    "\\sum_{i=1}^{n}", "\\int_0^1", "\\lim_{x\\to 0}", "\\sin", "\\log_2", "\\operatorname{tr}",
    "\\operatorname*{arg\\,max}", "\\mathbb{R}", "\\mathbf x", "\\hat{x}", "\\text{ if  and }",
    "\\mathrm{d}", "\\label{eq:1}", "\\nonumber", "\\tag{3}", "\\hspace{2pt}", "\\\\", "\\\\[2pt]",
    "\\begin{aligned}", "\\end{aligned}", "\\begin{array}{cc}", "\\end{array}", "\\displaystyle",
    "\\langle", "\\rangle", "\\not\\in", "\\coloneqq", "\\dots", "% comment\n", "\\", "\\%",
    " ", "\n", "\\xrightarrow{f}", "\\overset{def}{=}", "é", "\\foo{a}{b}", "\\ast", "x^ 12",
]


@given(st.lists(st.sampled_from(PIECES), max_size=25))
@settings(max_examples=400, deadline=None)
def test_normalize_is_idempotent(pieces: list[str]) -> None:
    once = normalize("".join(pieces))
    assert normalize(once) == once


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent_on_arbitrary_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.lists(st.sampled_from(PIECES), max_size=25))
@settings(max_examples=300, deadline=None)
def test_normalized_tokens_round_trip(pieces: list[str]) -> None:
    tokens = normalize_tokens("".join(pieces))
    assert tokenize(join_tokens(tokens)) == tokens


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_normalized_braces_are_balanced(text: str) -> None:
    depth = 0
    for tok in normalize_tokens(text):
        depth += tok == "{"
        depth -= tok == "}"
        assert depth >= 0
    assert depth == 0


@pytest.mark.parametrize(
    ("latex", "tokens"),
    [
        (r"\frac{a}{b}", ["\\frac", "{", "a", "}", "{", "b", "}"]),
        (r"\{x\}", ["\\{", "x", "\\}"]),
        (r"x^{12}", ["x", "^", "{", "1", "2", "}"]),
        (r"\alpha_1 % note" + "\n+ 2", ["\\alpha", "_", "1", "+", "2"]),
        (r"\begin {pmatrix} a \end{pmatrix}", ["\\begin{pmatrix}", "a", "\\end{pmatrix}"]),
        (r"\text{if   x}", ["\\text{if x}"]),
        (r"\operatorname*{argmax}", ["\\operatorname*", "{", "a", "r", "g", "m", "a", "x", "}"]),
        (r"a\\b", ["a", "\\\\", "b"]),
    ],
)
def test_tokenize(latex: str, tokens: list[str]) -> None:
    assert tokenize(latex) == tokens


@pytest.mark.parametrize(
    ("latex", "expected"),
    [
        (r"\left( x^{2} \right)", "(x^2)"),
        (r"\left. \frac{df}{dx} \right|_{x=0}", r"\frac{df}{dx}|_{x=0}"),
        (r"a \le b \ge c \ne d", r"a\leq b\geq c\neq d"),
        (r"\dfrac{1}{2} + \tfrac12", r"\frac{1}{2}+\frac 12"),
        (r"\lbrace x \rbrace", r"\{x\}"),
        (r"\displaystyle \sum_{i} x_{i}", r"\sum_i x_i"),
        (r"x^{12} y_{ij}", r"x^{12}y_{ij}"),
        (r"f^{\prime}(x) + g^{\prime\prime}", "f'(x)+g''"),
        (r"a \, b \; c \quad d \! e", "abcde"),
        (r"x = 1 \label{eq:x} \nonumber", "x=1"),
        (r"a &= b \\[4pt] &= c", r"a&=b\\&=c"),
        (r"\bigl( a \bigr)", "(a)"),
        (r"\alpha x", r"\alpha x"),
        (r"a}+{b", "a+{b}"),
        (r"x^{\alpha}", r"x^\alpha"),
        (r"x^{\hat a}", r"x^{\hat a}"),
        (r"a \coloneqq b", "a:=b"),
        (r"\operatorname{sin} x + \operatorname{tr} A", r"\sin x+\operatorname{tr}A"),
        (r"x = 1 , \\", "x=1"),
    ],
)
def test_normalize_cases(latex: str, expected: str) -> None:
    assert normalize(latex) == expected


def test_normalize_is_a_dedup_key() -> None:
    variants = [r"\frac{a}{b}^{2}", r"\dfrac {a}{b}^2", r"\left.\tfrac{a}{b}\right.^{2}", r"\frac{a}{b} ^ {2} \,"]
    assert len({normalize(v) for v in variants}) == 1
