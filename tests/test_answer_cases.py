"""The answer checker against its case table and against math-verify (issue 16, part 4)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import sympy

sys.path.insert(0, str(Path(__file__).parent))

from answer_cases import DIFFERENCES, cases, math_verify_verdict, our_verdict

from formulaforge.evaluation.answers.extract import extract_answer
from formulaforge.evaluation.answers.parse import parse_answer
from formulaforge.evaluation.answers.verify import check_item

logging.getLogger("math_verify").setLevel(logging.ERROR)


# Two fixtures, not one: math-verify's verdicts never depend on FormulaForge's code, so a mutation
# run of the checker (bench/mutation.py) need not pay for them on every mutant.
@pytest.fixture(scope="module")
def verdicts() -> list[tuple]:
    return [(c, our_verdict(c)) for c in cases()]


@pytest.fixture(scope="module")
def mv_verdicts() -> list[tuple]:
    return [(c, math_verify_verdict(c)) for c in cases()]


def test_table_covers_answer_types_and_styles() -> None:
    table = cases()
    assert len(table) >= 200
    kinds = {c.kind for c in table}
    assert {"integer", "fraction", "tuple", "list", "set", "interval", "inequality", "matrix", "percentage",
            "equation", "units"} <= kinds
    assert len({c.style for c in table}) >= 4
    assert sum(not c.expected for c in table) >= 100  # plenty of chances to accept wrongly


def test_checker_has_no_false_accepts_and_no_false_rejects(verdicts) -> None:
    false_accepts = [(c.gold, c.output, ext, v) for c, (ok, ext, v) in verdicts if ok and not c.expected]
    assert false_accepts == []
    false_rejects = [(c.gold, c.output, ext, v) for c, (ok, ext, v) in verdicts if c.expected and not ok]
    assert false_rejects == []


def test_math_verify_agrees_on_every_in_scope_case(mv_verdicts) -> None:
    disagree = [(c.gold, c.output) for c, mv in mv_verdicts if not c.difference and mv != c.expected]
    assert disagree == []
    # every listed difference is real (math-verify decides otherwise), so the list cannot go stale
    listed = [(c.gold, c.output, mv) for c, mv in mv_verdicts if c.difference]
    assert listed and all(mv != c.expected for (c, mv) in mv_verdicts if c.difference)
    matched = {(c.gold, c.output) for c, _ in mv_verdicts if c.difference}
    assert all(any(g == mg and o in mo for mg, mo in matched) for g, o in DIFFERENCES)  # no unused entry


def _spec(gold: str, verifier: str = "sympy_equal") -> dict:
    return {"verifier": verifier, "answer_srepr": sympy.srepr(parse_answer(gold)), "problem_srepr": None,
            "variable": None}


def test_structured_answers_are_structures_not_products() -> None:
    pair = parse_answer("2, 3")  # was 6
    assert isinstance(pair, sympy.FiniteSet) and set(pair.args) == {2, 3}
    assert parse_answer("(7,6)") == parse_answer("(7, 6)") == sympy.Tuple(7, 6)  # were 76 and 42
    assert parse_answer("(1,2)") not in (sympy.Integer(12), sympy.Integer(2))
    assert parse_answer("1,410") == 1410
    assert parse_answer(r"10\textnormal{ miles}") == 10
    assert parse_answer(r"\begin{pmatrix}1 & 2\end{pmatrix}") == sympy.ImmutableMatrix([[1, 2]])


def test_last_number_is_the_last_and_whole() -> None:
    ext = extract_answer("Carrying 1 then adding gives 1410")
    assert (ext.text, ext.method) == ("1410", "last_number")  # the last number, not the first
    assert extract_answer(r"so we end with \frac{10}{9}").text == r"\frac{10}{9}"  # never the 9
    assert extract_answer("The area is 1,000.99m^2").text is None  # never 1000 (nor 99, nor 2)
    assert extract_answer("we get 1,000.99 in total").text == "1,000.99"
    assert extract_answer("The roots are: 2, 3").text == "2, 3"


def test_equation_golds_decide_instead_of_crashing() -> None:
    spec = _spec("x = 5")
    assert check_item("5", spec, 10.0, 0)["status"] == "correct"
    assert check_item("6", spec, 10.0, 0)["status"] == "wrong"
    assert check_item("x = 5", spec, 10.0, 0)["status"] == "correct"
    verdict = check_item("4", _spec("2x + y = 4"), 10.0, 0)
    assert verdict["status"] == "wrong" and "error" not in verdict["check"]


def test_equation_verifier_refuses_a_bare_side_without_an_unknown() -> None:
    assert check_item("0", _spec("a+3z=0", "equation"), 10.0, 0) == {"status": "wrong",
                                                                     "check": "bare_value_for_equation"}
    assert check_item("2x + 1", _spec("y = 2x + 1", "equation"), 10.0, 0)["status"] == "correct"
