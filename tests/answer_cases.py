"""The answer checker's case table (issue 16): gold answer, model output, expected verdict.

Each ITEM is (answer type, gold LaTeX, verifier, the answer as the model writes it,
expected verdict); each is put into the output STYLES real models use (a boxed answer at
the end of some working, an "answer is $...$" sentence, a display formula on the last
line), giving the cases of :func:`cases`. OUTPUTS adds whole outputs whose extraction is
the point (the last number of a rambling answer, numbers inside LaTeX commands, units).

Expected verdicts are the mathematics, written by hand: ``True`` only when the answer is
the gold answer in another notation. The facts about math-verify (what its parser reads,
what its ``verify`` accepts) come from its documentation and its code: ``(1,2)`` is read
as an open interval and compared with a pair; ``9\\%`` equals 9 and 0.09; floats are
rounded to 6 decimals; an assignment ``x = 1`` may be answered by ``1``, an equation like
``2x + z = 1`` may not; a relation is compared with a set only when the prediction is the
set. DIFFERENCES lists where our checker deliberately decides otherwise than math-verify,
with the reason; docs/synth.md explains each.
"""

from __future__ import annotations

from dataclasses import dataclass

MATRIX = r"\begin{pmatrix}1 & 2\\3 & 4\end{pmatrix}"

ITEMS: list[tuple[str, str, str, str, bool]] = [
    # ---- integers (exact_integer) ----
    ("integer", "1410", "exact_integer", "1410", True),
    ("integer", "1410", "exact_integer", "1,410", True),
    ("integer", "1410", "exact_integer", "1410.0", True),
    ("integer", "1410", "exact_integer", "1411", False),
    ("integer", "1410", "exact_integer", "141", False),
    ("integer", "1410", "exact_integer", "14100", False),
    ("integer", "1410", "exact_integer", "1400 + 10", False),
    ("integer", "42", "exact_integer", r"42 \text{ apples}", True),
    ("integer", "12", "exact_integer", r"12\textnormal{ miles}", True),
    ("integer", "12", "exact_integer", r"12 \text{ miles}", True),
    ("integer", "-7", "exact_integer", "-7", True),
    ("integer", "-7", "exact_integer", "7", False),
    ("integer", "1000", "exact_integer", "1,000", True),
    ("integer", "1000", "exact_integer", "1", False),
    # ---- numbers and expressions (sympy_equal) ----
    ("fraction", r"\frac{10}{9}", "sympy_equal", r"\frac{10}{9}", True),
    ("fraction", r"\frac{10}{9}", "sympy_equal", r"\dfrac{10}{9}", True),
    ("fraction", r"\frac{10}{9}", "sympy_equal", "9", False),
    ("fraction", r"\frac{10}{9}", "sympy_equal", "10", False),
    ("fraction", r"\frac{10}{9}", "sympy_equal", "1.111111", True),
    ("fraction", r"\frac{10}{9}", "sympy_equal", "1.11", False),
    ("fraction", r"\frac{10}{9}", "sympy_equal", r"\frac{9}{10}", False),
    ("fraction", r"\frac{3}{4}", "sympy_equal", "0.75", True),
    ("fraction", r"\frac{3}{4}", "sympy_equal", "0.7", False),
    ("fraction", r"\frac{3}{4}", "sympy_equal", r"\frac{6}{8}", True),
    ("decimal", "1000.99", "sympy_equal", "1,000.99", True),
    ("decimal", "1000.99", "sympy_equal", "1000", False),
    ("radical", r"\sqrt{2}", "sympy_equal", r"\frac{2}{\sqrt{2}}", True),
    ("radical", r"\sqrt{2}", "sympy_equal", "2", False),
    ("radical", r"2\sqrt{3}", "sympy_equal", r"\sqrt{12}", True),
    ("radical", r"2\sqrt{3}", "sympy_equal", r"3\sqrt{2}", False),
    ("constant", r"2\pi", "sympy_equal", r"2\pi", True),
    ("constant", r"2\pi", "sympy_equal", r"\pi", False),
    ("constant", r"2\pi", "sympy_equal", "6.283185", True),
    ("constant", r"e^{2}", "sympy_equal", "e^2", True),
    ("constant", r"e^{2}", "sympy_equal", "2e", False),
    ("negative", "-3", "sympy_equal", "x = -3", True),
    ("negative", "-3", "sympy_equal", "3", False),
    ("percentage", r"\frac{1}{2}", "sympy_equal", r"50\%", True),
    ("percentage", "50", "sympy_equal", r"50\%", True),
    ("percentage", r"\frac{1}{2}", "sympy_equal", "50", False),
    ("percentage", "50", "sympy_equal", "0.5", False),
    ("percentage", r"\frac{1}{4}", "sympy_equal", r"25\%", True),
    ("percentage", r"\frac{1}{4}", "sympy_equal", r"20\%", False),
    ("expression", "x^2 + 2x + 1", "sympy_equal", "(x+1)^2", True),
    ("expression", "x^2 + 2x + 1", "sympy_equal", "(x-1)^2", False),
    ("expression", r"\frac{x}{2}", "sympy_equal", "0.5x", True),
    ("expression", r"\frac{x}{2}", "sympy_equal", "2x", False),
    ("expression", r"\sin(2x)", "sympy_equal", r"2\sin(x)\cos(x)", True),
    ("expression", r"\sin(2x)", "sympy_equal", r"2\sin(x)", False),
    # ---- tuples and lists ----
    ("tuple", "(1, 2)", "sympy_equal", "(1, 2)", True),
    ("tuple", "(1, 2)", "sympy_equal", "(1,2)", True),
    ("tuple", "(1, 2)", "sympy_equal", "(2, 1)", False),
    ("tuple", "(1, 2)", "sympy_equal", "12", False),
    ("tuple", "(1, 2)", "sympy_equal", "2", False),
    ("tuple", "(1, 2)", "sympy_equal", "(1, 2, 3)", False),
    ("tuple", "(7, 6)", "sympy_equal", "(7,6)", True),
    ("tuple", "(7, 6)", "sympy_equal", "(7, 6)", True),
    ("tuple", "(7, 6)", "sympy_equal", "76", False),
    ("tuple", "(7, 6)", "sympy_equal", "42", False),
    ("tuple", "(7, 6)", "sympy_equal", "(6, 7)", False),
    ("tuple", "(1, 2)", "sympy_equal", "x = 1, y = 2", True),
    ("tuple", "(1, 2)", "sympy_equal", "x = 2, y = 1", False),
    ("tuple", r"(\frac{1}{2}, -1)", "sympy_equal", "(0.5, -1)", True),
    ("tuple", r"(\frac{1}{2}, -1)", "sympy_equal", "(0.5, 1)", False),
    ("list", "[1, 2, 3]", "sympy_equal", "[1, 2, 3]", True),
    ("list", "[1, 2, 3]", "sympy_equal", "[1, 3, 2]", False),
    ("list", "[1, 2, 3]", "sympy_equal", "123", False),
    ("list", "[1, 2, 3]", "sympy_equal", "6", False),
    # ---- sets ----
    ("set", r"\{1, 2\}", "sympy_equal", r"\{2, 1\}", True),
    ("set", r"\{1, 2\}", "sympy_equal", r"\{1, 2\}", True),
    ("set", r"\{1, 2\}", "sympy_equal", r"\{1, 3\}", False),
    ("set", r"\{1, 2\}", "sympy_equal", r"\{1\}", False),
    ("set", r"\{1, 2\}", "sympy_equal", "3", False),
    ("set", r"\{-2, 3\}", "sympy_equal", "x = -2, 3", True),
    ("set", r"\{-2, 3\}", "sympy_equal", "-6", False),
    ("set", r"\{-2, 3\}", "sympy_equal", r"\{2, -3\}", False),
    ("set", r"\emptyset", "sympy_equal", r"\emptyset", True),
    ("set", r"\emptyset", "sympy_equal", r"\{0\}", False),
    # ---- intervals ----
    ("interval", "[1, 2)", "sympy_equal", "[1, 2)", True),
    ("interval", "[1, 2)", "sympy_equal", "[1, 2]", False),
    ("interval", "[1, 2)", "sympy_equal", "(1, 2)", False),
    ("interval", r"(2, \infty)", "sympy_equal", r"(2, \infty)", True),
    ("interval", r"(2, \infty)", "sympy_equal", r"[2, \infty)", False),
    ("interval", r"(2, \infty)", "sympy_equal", r"x \in (2, \infty)", True),
    ("interval", r"(2, \infty)", "sympy_equal", "x > 2", True),
    ("interval", r"(2, \infty)", "sympy_equal", r"x \ge 2", False),
    ("interval", r"(-\infty, 2] \cup (3, \infty)", "sympy_equal", r"(-\infty, 2] \cup (3, \infty)", True),
    ("interval", r"(-\infty, 2] \cup (3, \infty)", "sympy_equal", r"(3, \infty) \cup (-\infty, 2]", True),
    ("interval", r"(-\infty, 2] \cup (3, \infty)", "sympy_equal", r"(-\infty, 2) \cup (3, \infty)", False),
    ("interval", "[0, 1]", "sympy_equal", "[0, 1]", True),
    ("interval", "[0, 1]", "sympy_equal", r"0 \le x \le 1", True),
    ("interval", "[0, 1]", "sympy_equal", "(0, 1)", False),
    # ---- inequalities ----
    ("inequality", "x > 2", "sympy_equal", "x > 2", True),
    ("inequality", "x > 2", "sympy_equal", "2 < x", True),
    ("inequality", "x > 2", "sympy_equal", "2x > 4", True),
    ("inequality", "x > 2", "sympy_equal", r"x \ge 2", False),
    ("inequality", "x > 2", "sympy_equal", "x < 2", False),
    ("inequality", "x > 2", "sympy_equal", r"(2, \infty)", True),
    ("inequality", "x > 2", "sympy_equal", "2", False),
    ("inequality", r"x \le 3", "sympy_equal", r"x \leq 3", True),
    ("inequality", r"x \le 3", "sympy_equal", r"3 \ge x", True),
    ("inequality", r"x \le 3", "sympy_equal", "x < 3", False),
    ("inequality", "1 < x < 2", "sympy_equal", "1 < x < 2", True),
    ("inequality", "1 < x < 2", "sympy_equal", r"1 \le x < 2", False),
    # ---- matrices ----
    ("matrix", MATRIX, "sympy_equal", MATRIX, True),
    ("matrix", MATRIX, "sympy_equal", r"\begin{bmatrix}1 & 2\\3 & 4\end{bmatrix}", True),
    ("matrix", MATRIX, "sympy_equal", r"\begin{pmatrix}1 & 3\\2 & 4\end{pmatrix}", False),
    ("matrix", MATRIX, "sympy_equal", r"\begin{pmatrix}1 & 2\end{pmatrix}", False),
    ("matrix", MATRIX, "sympy_equal", "10", False),
    ("matrix", r"\begin{pmatrix}\frac{1}{2} & 0\\0 & 1\end{pmatrix}", "sympy_equal",
     r"\begin{pmatrix}0.5 & 0\\0 & 1\end{pmatrix}", True),
    # ---- equations: the equation verifier, and an equation gold under sympy_equal ----
    ("equation", "a+3z=0", "equation", "0", False),
    ("equation", "a+3z=0", "equation", "a + 3z = 0", True),
    ("equation", "a+3z=0", "equation", "3z + a = 0", True),
    ("equation", "a+3z=0", "equation", "a = -3z", True),
    ("equation", "a+3z=0", "equation", "a - 3z = 0", False),
    ("equation", "y = 2x + 1", "equation", "2x + 1", True),
    ("equation", "y = 2x + 1", "equation", "y = 2x + 1", True),
    ("equation", "y = 2x + 1", "equation", "y = 2x - 1", False),
    ("equation", "y = 2x + 1", "equation", "2x - 1", False),
    ("equation", "x^2 = 1", "equation", "x = 1", False),
    ("equation", "x^2 = 1", "equation", "x^2 - 1 = 0", True),
    ("equation", "x = 5", "sympy_equal", "5", True),
    ("equation", "x = 5", "sympy_equal", "x = 5", True),
    ("equation", "x = 5", "sympy_equal", "6", False),
    ("equation", "2x + y = 4", "sympy_equal", "4", False),
    ("equation", "2x + y = 4", "sympy_equal", "y = 4 - 2x", True),
    ("equation", "2x + y = 4", "sympy_equal", "y = 4 + 2x", False),
]

STYLES: dict[str, str] = {
    "boxed": "First we set up the problem.\nThen we simplify each side.\nTherefore the result is $\\boxed{%s}$.",
    "answer_is": "Working through the steps carefully, the final answer is $%s$.",
    "display_last": "Solving gives\n$$%s$$",
}

OUTPUTS: list[tuple[str, str, str, str, bool]] = [
    # (type, gold, verifier, whole model output, expected)
    ("last_number", "1410", "exact_integer", "Carrying 1 then adding gives 1410", True),
    ("last_number", "1", "exact_integer", "Carrying 1 then adding gives 1410", False),
    ("last_number", "1410", "exact_integer", "We add 705 and 705. The total is 1410.", True),
    ("last_number", "705", "exact_integer", "We add 705 and 705. The total is 1410.", False),
    ("last_number", "1410", "exact_integer", "705 + 705 = 1410", True),
    ("latex_command", r"\frac{10}{9}", "sympy_equal", r"so we end with \frac{10}{9}", True),
    ("latex_command", "9", "sympy_equal", r"so we end with \frac{10}{9}", False),
    ("latex_command", "10", "sympy_equal", r"so we end with \frac{10}{9}", False),
    ("latex_command", r"\frac{1}{3}", "sympy_equal", r"Simplifying, we get \frac{1}{\sqrt{9}}", True),
    ("latex_command", "3", "sympy_equal", r"Simplifying, we get \frac{1}{\sqrt{9}}", False),
    ("thousands", "1000", "exact_integer", "The area is 1,000.99m^2", False),
    ("thousands", "1000.99", "sympy_equal", "The area is $1,000.99 \\text{ m}^2$", True),
    ("thousands", "99", "sympy_equal", "The area is 1,000.99m^2", False),
    ("units", "12", "exact_integer", "She walks $12\\textnormal{ miles}$ in total.", True),
    ("units", "12", "exact_integer", "The distance is \\boxed{12\\textnormal{ miles}}", True),
    ("units", "5", "exact_integer", "The total cost is \\boxed{\\$5}", True),
    ("units", "5", "exact_integer", "**5 dollars**", True),
    ("bold", "0", "exact_integer", "Subtracting, we get **0**", True),
    ("bold", "1", "exact_integer", "Subtracting, we get **0**", False),
    ("plain_list", r"\{2, 3\}", "sympy_equal", "The roots are: 2, 3", True),
    ("plain_list", "6", "sympy_equal", "The roots are: 2, 3", False),
    ("plain_list", "5", "sympy_equal", "The roots are: 2, 3", False),
    ("plain_tuple", "(1, 2)", "sympy_equal", "Answer: (1,2)", True),
    ("plain_tuple", "12", "sympy_equal", "Answer: (1,2)", False),
    ("plain_tuple", "(7, 6)", "sympy_equal", "Answer: (7, 6)", True),
    ("plain_tuple", "42", "sympy_equal", "Answer: (7, 6)", False),
    ("truncated", "4", "exact_integer", "Let me compute 2 + 2 step by step. First", False),
    ("no_answer", "4", "exact_integer", "I am not sure how to solve this.", False),
]

DIFFERENCES: dict[tuple[str, str], str] = {
    # (gold, answer) -> why our checker decides otherwise than math-verify (docs/synth.md)
    ("1410", "1400 + 10"): "unevaluated arithmetic restates the question; math-verify evaluates it",
    (r"(2, \infty)", "x > 2"): "an inequality describing the gold interval is accepted; math-verify compares "
                               "a relation with a set only when the prediction is the set",
    ("[0, 1]", r"0 \le x \le 1"): "same as above",
    ("x > 2", "2x > 4"): "one-variable inequalities are compared by their solution sets; math-verify's "
                         "relational comparison rejects a rescaled inequality",
    (r"\frac{1}{3}", r"Simplifying, we get \frac{1}{\sqrt{9}}"): "LaTeX outside math delimiters: our last-number "
                                                                "fallback reads the whole command; math-verify "
                                                                "reads nothing",
    (r"\{2, 3\}", "The roots are: 2, 3"): "a plain-text list is read as a list; math-verify's plain-text "
                                          "reading takes the last number",
    ("(1, 2)", "Answer: (1,2)"): "a plain-text tuple is read as a tuple; math-verify's plain-text reading "
                                 "finds no answer",
    ("(7, 6)", "Answer: (7, 6)"): "same as above",
    ("4", "Let me compute 2 + 2 step by step. First"): "a truncated output restating the question: math-verify "
                                                       "evaluates the restated 2 + 2 and accepts (a false "
                                                       "accept); we read no answer",
}


@dataclass(frozen=True)
class Case:
    kind: str
    style: str
    gold: str
    verifier: str
    output: str
    expected: bool
    difference: str  # "" when math-verify must agree


def cases() -> list[Case]:
    out = []
    for kind, gold, verifier, answer, expected in ITEMS:
        diff = DIFFERENCES.get((gold, answer), "")
        for style, template in STYLES.items():
            out.append(Case(kind, style, gold, verifier, template % answer, expected, diff))
    for kind, gold, verifier, output, expected in OUTPUTS:
        out.append(Case(kind, "whole_output", gold, verifier, output, expected,
                        DIFFERENCES.get((gold, output), "")))
    return out


def our_verdict(case: Case) -> tuple[bool, str | None, dict]:
    """(accepted, extracted text, verdict) from FormulaForge's checker, in this process."""
    import sympy

    from formulaforge.evaluation.answers.extract import extract_answer
    from formulaforge.evaluation.answers.parse import parse_answer
    from formulaforge.evaluation.answers.verify import check_item

    gold = parse_answer(case.gold)
    if gold is None:
        raise ValueError(f"gold {case.gold!r} does not parse")
    spec = {"verifier": case.verifier, "answer_srepr": sympy.srepr(gold), "problem_srepr": None, "variable": None}
    ext = extract_answer(case.output)
    verdict = check_item(ext.text, spec, budget_s=10.0, seed=0)
    return verdict["status"] == "correct", ext.text, verdict


def math_verify_verdict(case: Case) -> bool:
    """math-verify end to end as documented: ``verify(parse(gold), parse(output))``."""
    from math_verify import parse, verify

    return bool(verify(parse(f"${case.gold}$"), parse(case.output)))
