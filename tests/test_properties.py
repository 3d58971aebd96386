"""Property-based tests (hypothesis) for invariants that hold on every input (issue 22, item 3).

- Extraction never emits a context that contains a display formula, whatever the mix of
  prose, inline math, displays, headings, lists and blank lines.
- The answer checker never accepts a different number, in any output style.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formulaforge.datasets.extract import DocStats, Settings, latex_triplets
from formulaforge.datasets.tokens import whitespace_tokens
from formulaforge.evaluation.answers import extract_answer
from formulaforge.evaluation.answers.verify import check_item
from formulaforge.sources.latex_docs import LatexDocSpec, load_document

PROSE = st.sampled_from(["We consider the map", "Hence", "Let $x>0$ be given.", "as shown above,",
                         "where $f$ is smooth", "The proof is routine.", "It follows that"])
DISPLAYS = st.sampled_from([r"\begin{equation} a = b \end{equation}", r"\[ x^2 + 1 \]", r"$$ \int f $$",
                            r"\begin{align} u &= v \\ w &= z \end{align}", r"\begin{equation*} E = mc^2 \end{equation*}"])
OTHERS = st.sampled_from(["\n\n", r"\section{Results}", r"\begin{itemize} \item one \item two \end{itemize}",
                          r"\subsection*{Notes}", "\n"])
PIECES = st.lists(st.one_of(PROSE, DISPLAYS, OTHERS), min_size=1, max_size=14)
DISPLAY_MARK = re.compile(r"\\begin\{(equation|align|gather|multline|displaymath)\*?\}|\$\$|\\\[")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=PIECES)
def test_no_context_contains_a_display(pieces: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        body = " ".join(pieces)
        (root / "main.tex").write_text(f"\\documentclass{{article}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n")
        doc = load_document(LatexDocSpec("d/main.tex", "s", "tree", str(root), "main.tex"))
        rows = list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, DocStats(), []))
    for r in rows:
        for side in ("context_before", "context_after"):
            assert not DISPLAY_MARK.search(r[side]), (side, r[side], body)
        assert r["formula"].strip()


STYLES = ["The answer is {m}.", "\\boxed{{{m}}}", "Final answer: ${m}$", "So the sum is {m}", "**{m}**",
          "{m}", "We get $$ {m} $$", "Result: {m:,}"]


@settings(max_examples=300, deadline=None)
@given(gold=st.integers(-10**6, 10**9), delta=st.integers(-10**6, 10**6).filter(bool), style=st.sampled_from(STYLES))
def test_checker_never_accepts_a_different_number(gold: int, delta: int, style: str) -> None:
    wrong = gold + delta
    out = style.format(m=wrong)
    spec = {"verifier": "exact_integer", "answer_srepr": sympy.srepr(sympy.Integer(gold)),
            "problem_srepr": sympy.srepr(sympy.Integer(0)), "variable": "x"}
    candidate = extract_answer(out, "What is the value?").text  # what the checker grades: the extracted answer
    assert check_item(candidate, spec, 5, 0)["status"] != "correct", (out, candidate)
    assert check_item(out, spec, 5, 0)["status"] != "correct", out  # and the raw output itself
