"""``evaluation/answers/verify.py``: which check decides, for answers whose route is known by hand
(issue 22). The case table (``test_answer_cases.py``) pins the verdicts; this file pins the
route (``check``), so a branch that stops being reached shows even when the verdict survives.
"""

from __future__ import annotations

import random
import time

import pytest
import sympy
from sympy import Eq, Function, Rational, Symbol, pi

from formulaforge.evaluation.answers import verify as v
from formulaforge.utils.timeout import CASTimeout

x, y, z, a = Symbol("x"), Symbol("y"), Symbol("z"), Symbol("a")
f = Function("f")


def _stalls(seconds: float, value: object = True):  # type: ignore[no-untyped-def]
    """A stand-in for a slow step: holds the caller ``seconds`` (in ``time.sleep``, which the alarm
    interrupts), then returns ``value``."""

    def stalled(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return value

    return stalled


def _spec(gold: sympy.Basic, verifier: str = "sympy_equal", problem: sympy.Basic | None = None,
          variable: str | None = None) -> dict:
    return {"verifier": verifier, "answer_srepr": sympy.srepr(gold),
            "problem_srepr": sympy.srepr(problem) if problem is not None else None, "variable": variable}


ROUTES = [
    # exact_integer: a number, evaluated, equal
    ("1410", _spec(sympy.Integer(1410), "exact_integer"), "correct", "exact_integer"),
    ("1410.0", _spec(sympy.Integer(1410), "exact_integer"), "correct", "exact_integer"),
    ("1411", _spec(sympy.Integer(1410), "exact_integer"), "wrong", "exact_integer"),
    ("x", _spec(sympy.Integer(1410), "exact_integer"), "wrong", "exact_integer"),
    (r"\mathbb{N}", _spec(sympy.Integer(5), "exact_integer"), "wrong", "exact_integer"),  # no symbols, no number
    ("1400 + 10", _spec(sympy.Integer(1410), "exact_integer"), "wrong", "unevaluated_expression"),
    (r"1400 \times 1", _spec(sympy.Integer(1400), "exact_integer"), "wrong", "unevaluated_expression"),
    ("50%", _spec(sympy.Integer(50), "exact_integer"), "correct", "exact_integer_percent"),
    # an exact fraction 1e-27 away from 3 is not 3 (only a decimal's own float is made rational)
    (r"\frac{3000000000000000000000000001}{1000000000000000000000000000}", _spec(sympy.Integer(3), "exact_integer"),
     "wrong", "exact_integer"),
    (r"\frac{2820}{2}", _spec(sympy.Integer(1410), "exact_integer"), "correct", "exact_integer"),
    # sympy_equal: decimals by the digits shown, then math-verify, then values
    ("0.75", _spec(Rational(3, 4)), "correct", "decimal"),
    ("0.8", _spec(Rational(3, 4)), "wrong", "decimal"),
    ("3.1416", _spec(pi), "correct", "decimal"),
    ("3.142", _spec(pi), "correct", "decimal"),
    ("3.150", _spec(pi), "wrong", "decimal"),
    ("3.1", _spec(pi), "wrong", "decimal"),
    ("1,234.5", _spec(Rational(2469, 2)), "correct", "decimal"),
    (r"\frac{3}{4}", _spec(Rational(3, 4)), "correct", "math_verify"),
    ("x = 3/4", _spec(Rational(3, 4)), "correct", "math_verify"),
    ("75%", _spec(Rational(3, 4)), "correct", "math_verify_percent"),
    # only sympy_equal and exact_integer split off a percent sign; math-verify reads the rest whole
    ("50%", _spec(sympy.Integer(50), "derivative"), "correct", "math_verify"),
    ("x > 1", _spec(Rational(3, 4)), "wrong", "relation_for_expression"),
    ("(1, 2)", _spec(Rational(3, 4)), "wrong", "not_a_single_answer"),
    ("@", _spec(Rational(3, 4)), "unparsable", "parse"),
    # equation: equations compared at random points; a bare value against the side it must equal
    ("y = 2x", _spec(Eq(y, 2 * x), "equation"), "correct", "equation_numeric"),
    ("2x = y", _spec(Eq(y, 2 * x), "equation"), "correct", "equation_numeric"),  # sides swapped: the same
    ("2y = 4x", _spec(Eq(y, 2 * x), "equation"), "wrong", "equation_numeric"),  # a derivation step further
    ("y = 3x", _spec(Eq(y, 2 * x), "equation"), "wrong", "equation_numeric"),
    ("y > 2x", _spec(Eq(y, 2 * x), "equation"), "wrong", "equation"),
    ("2x", _spec(Eq(y, 2 * x), "equation"), "correct", "equation_rhs_numeric_points"),
    ("3x", _spec(Eq(y, 2 * x), "equation"), "wrong", "equation_rhs_numeric_points"),
    ("0", _spec(Eq(a + 3 * z, 0), "equation"), "wrong", "bare_value_for_equation"),
    # antiderivative: differentiate the answer
    ("x^2 + 5", _spec(x**2, "antiderivative", 2 * x, "x"), "correct", "differentiate_numeric_points"),
    (r"\ln|x|", _spec(sympy.log(x), "antiderivative", 1 / x, "x"), "correct", "differentiate_numeric_points"),
    ("t^2", _spec(Symbol("t") ** 2, "antiderivative", 2 * Symbol("t"), "t"), "correct",
     "differentiate_numeric_points"),
    ("x^3", _spec(x**2, "antiderivative", 2 * x, "x"), "wrong", "differentiate_numeric_points"),
    ("7", _spec(sympy.Integer(0), "antiderivative", sympy.Integer(0), None), "correct", "differentiate_simplify"),
    # no variable named: x
    ("x^2", _spec(x**2, "antiderivative", 2 * x, None), "correct", "differentiate_numeric_points"),
    # math-verify says no; the values decide and say how
    ("3x", _spec(2 * x), "wrong", "numeric_points"),
    ("3x", _spec(2 * x, "derivative"), "wrong", "numeric_points"),
    # structured answers go to the structure comparison
    # math-verify reads "(1, 2)" as an open interval; for a tuple gold it is the pair
    ("(1, 2)", _spec(sympy.Tuple(1, 2)), "correct", "structure_tuple_from_open_interval"),
]


@pytest.mark.parametrize(("candidate", "spec", "status", "check"), ROUTES)
def test_route_of_each_answer(candidate: str, spec: dict, status: str, check: str) -> None:
    assert v.check_candidate(candidate, spec) == {"status": status, "check": check}


def test_check_item_turns_failures_into_verdicts() -> None:
    spec = _spec(Rational(3, 4))
    assert v.check_item(None, spec, 5.0, 0) == {"status": "no_answer", "check": "extract"}
    assert v.check_item("0.75", spec, 0.0, 0) == {"status": "timeout", "check": "time_limit"}
    assert v.check_item("0.75", {**spec, "verifier": "nope"}, 5.0, 0) == {"status": "unparsable",
                                                                          "check": "error:ValueError"}
    with pytest.raises(ValueError, match="unknown verifier 'nope'"):
        v.check_candidate("0.75", {**spec, "verifier": "nope"})
    assert v.check_batch([(None, spec), ("0.75", spec)], 5.0, 0) == [
        {"status": "no_answer", "check": "extract"}, {"status": "correct", "check": "decimal"}]


def test_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CASTimeout, match="^answer check exceeded its time budget$"):
        v._Deadline(0.0).left()
    now = [100.0]
    monkeypatch.setattr(v.time, "monotonic", lambda: now[0])
    dl = v._Deadline(0.5)
    assert dl.left() == 0.5  # half a second left is time left
    now[0] = 100.5  # none left: exactly at the end is past it
    with pytest.raises(CASTimeout):
        dl.left()
    assert 9.0 < v._Deadline(10.0).left() <= 10.0


def test_bare_value_side() -> None:
    d = sympy.Derivative(f(x), x)
    assert v._bare_value_side(Eq(d, 2 * x)) == 2 * x
    assert v._bare_value_side(Eq(2 * x, d)) == 2 * x
    assert v._bare_value_side(Eq(x, 5)) == 5
    assert v._bare_value_side(Eq(x, y + 1)) == y + 1
    assert v._bare_value_side(Eq(x, x**2 - 2)) is None
    assert v._bare_value_side(Eq(d, sympy.Derivative(f(x), x, 2))) is None
    assert v._bare_value_side(Eq(a + 3 * z, 0)) is None


def test_split_percent() -> None:
    assert v._split_percent(r"50\%") == ("50", True)
    assert v._split_percent("50 %") == ("50", True)
    assert v._split_percent("50 percent") == ("50", True)
    assert v._split_percent(r"50\text{ percent }") == ("50", True)
    assert v._split_percent("%") == ("%", False)
    assert v._split_percent("50") == ("50", False)


def test_decimal_rule() -> None:
    assert v._decimal_ok("2", sympy.Integer(2), sympy.Integer(2)) is None  # not a decimal
    assert v._decimal_ok("0.5", sympy.Float(0.5), x) is None  # symbolic gold: not this rule
    assert v._decimal_ok("\u22120.25", sympy.Float(-0.25), Rational(-1, 4)) is True
    assert v._decimal_ok("0.3333", sympy.Float(0.3333), Rational(1, 3)) is True  # 4 digits, within 1.01e-4
    assert v._decimal_ok("0.3334", sympy.Float(0.3334), Rational(1, 3)) is True
    assert v._decimal_ok("0.3335", sympy.Float(0.3335), Rational(1, 3)) is False
    assert v._decimal_ok("0.333", sympy.Float(0.333), Rational(1, 3)) is False  # 3 digits: too few


def test_symbols_sorted_by_name_and_exact_zero() -> None:
    assert v._symbols(y + x, z * a) == [a, x, y, z]
    assert v._exact_zero(sympy.sin(x) ** 2 + sympy.cos(x) ** 2 - 1) is True
    assert v._exact_zero(x) is False


def test_equal_values_routes() -> None:
    rng = random.Random(0)
    assert v._equal_values(2 * x, x + x, rng, v._Deadline(5)) == (True, "numeric_points")
    assert v._equal_values(sympy.sqrt(2) ** 2, sympy.Integer(2), rng, v._Deadline(5)) == (True, "simplify")
    assert v._equal_values(sympy.Integer(3), sympy.Integer(2), rng, v._Deadline(5)) == (False, "simplify")


def test_math_verify_gets_a_share_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real = v.time_limit

    def spy(seconds: float):  # type: ignore[no-untyped-def]
        seen.append(seconds)
        return real(seconds)

    monkeypatch.setattr(v, "time_limit", spy)
    assert v._math_verify(Rational(1, 2), Rational(1, 2), v._Deadline(10.0)) is True
    assert len(seen) == 1 and 2.0 < seen[0] <= 4.0  # MATH_VERIFY_SHARE (0.4) of what is left, not all of it
    assert v._math_verify(Rational(1, 2), Rational(1, 3), v._Deadline(10.0)) is False


STRUCTURED = [
    ("(0.5, 3)", sympy.Tuple(Rational(1, 2), 3), "correct"),
    ("(0.6, 3)", sympy.Tuple(Rational(1, 2), 3), "wrong"),
    ("((1, 2), 3)", sympy.Tuple(1, 3), "wrong"),  # a structure never equals an element
    ("(1, ", sympy.Tuple(1, 3), "unparsable"),
]


@pytest.mark.parametrize(("candidate", "gold", "status"), STRUCTURED)
def test_structured_elements(candidate: str, gold: sympy.Basic, status: str) -> None:
    got = v.check_candidate(candidate, _spec(gold))
    assert got["status"] == status
    assert got["check"] == "parse" if status == "unparsable" else got["check"].startswith("structure_")


def test_element_equal_falls_back_to_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rng, dl = random.Random(0), v._Deadline(5)
    assert v._element_equal(Rational(1, 2), sympy.Float(0.5), rng, dl) is True  # math-verify
    assert v._element_equal(sympy.Tuple(1, 2), sympy.Integer(1), rng, dl) is False
    assert v._element_equal(sympy.Integer(1), sympy.Tuple(1, 2), rng, dl) is False
    monkeypatch.setattr(v, "_math_verify", lambda g, c, d: False)  # math-verify undecided: values decide
    assert v._element_equal(x * (x + 1), x**2 + x, rng, dl) is True
    assert v._element_equal(x * (x + 1), x**2, rng, dl) is False
    assert v.check_candidate("(x^2 + x, 1)", _spec(sympy.Tuple(x * (x + 1), 1)))["status"] == "correct"

    def broken(*args):  # type: ignore[no-untyped-def]
        raise TypeError("not comparable")

    monkeypatch.setattr(v, "_equal_values", broken)
    assert v._element_equal(x, y, rng, dl) is False


def test_relations_equal_routes() -> None:
    rng, dl = random.Random(0), v._Deadline(5)
    assert v._relations_equal(Eq(y, 2 * x), Eq(2 * x, y), rng, dl) is True
    assert v._relations_equal(Eq(y, 2 * x), Eq(2 * y, 4 * x), rng, dl) is False  # decided at random points
    assert v._relations_equal(sympy.Lt(x, 1), sympy.Lt(x, 1), rng, dl) is True  # math-verify for inequalities
    assert v._relations_equal(sympy.Lt(x, 1), sympy.Gt(x, 1), rng, dl) is False


def test_warm_up_parses_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(v, "_WARM", False)
    monkeypatch.setattr(v, "parse_answer", lambda s: calls.append(s))
    assert v.warm_up() is True and v.warm_up() is True
    assert calls == [r"\frac{1}{2} + x"] and v._WARM is True


def test_check_batch_gives_each_item_its_own_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(v, "check_item", lambda c, s, b, seed: seen.append((c, b, seed)) or {"status": c})
    out = v.check_batch([("a", {}), ("b", {}), ("c", {})], 2.5, 10)
    assert out == [{"status": "a"}, {"status": "b"}, {"status": "c"}]
    assert seen == [("a", 2.5, 10), ("b", 2.5, 11), ("c", 2.5, 12)]


def test_math_verify_failures_are_not_shown_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    import math_verify

    outer = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's alarm, put back after
    try:  # no alarm of math-verify's own: the caller's timer survives the comparison
        signal.setitimer(signal.ITIMER_REAL, 100)
        assert v._math_verify(x + 1, 1 + x, v._Deadline(10.0)) is True
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 90
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer)
    for exc in (CASTimeout("slow"), RuntimeError("broken")):
        def boom(*args, exc=exc, **kwargs):  # type: ignore[no-untyped-def]
            raise exc

        monkeypatch.setattr(math_verify, "verify", boom)
        assert v._math_verify(x, x, v._Deadline(10.0)) is False


def test_exact_zero_and_values_read_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    rng, dl = random.Random(0), v._Deadline(5)
    assert v._equal_values(sympy.Integer(2), x, rng, dl) == (False, "numeric_points")  # symbols of either side
    assert v._equal_values(x, sympy.Integer(2), rng, dl) == (False, "numeric_points")
    assert v._equal_values(x, x * (1 + sympy.Rational(1, 10**9)), rng, dl)[0] is False  # rel_tol 1e-9, not 1e-8

    def broken(expr):  # type: ignore[no-untyped-def]
        raise ValueError("cannot simplify")

    monkeypatch.setattr(v.sympy, "simplify", broken)
    assert v._exact_zero(x) is False


def test_decimal_tolerance_boundary() -> None:
    # 4 places: within 1.01e-4 (a last digit off by one, with 1% slack)
    shown = Rational(1234, 10**4)
    assert v._decimal_ok("0.1234", shown, shown + Rational(1005, 10**7)) is True  # 1.005e-4 away
    assert v._decimal_ok("0.1234", shown, shown + Rational(1015, 10**7)) is False  # 1.015e-4 away


def test_unknowns_and_percent_edges() -> None:
    assert v._has_unknown(sympy.Derivative(x**2, x)) and v._has_unknown(sympy.Integral(x, x))
    assert v._has_unknown(f(x)) and not v._has_unknown(x**2 + 1)
    assert v._split_percent("5%") == ("5", True)


def test_each_sympy_step_runs_under_the_answer_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that would run past the budget is cut off there (time_limit with what is left)."""
    slow = _stalls(3)

    rng = random.Random(0)
    with monkeypatch.context() as m:
        m.setattr(v, "agree_numerically", slow)
        with pytest.raises(CASTimeout):
            v._equal_values(x, x, rng, v._Deadline(0.3))
    with monkeypatch.context() as m:
        m.setattr(v, "_exact_zero", slow)
        with pytest.raises(CASTimeout):
            v._equal_values(sympy.Integer(1), sympy.Integer(1), rng, v._Deadline(0.3))
    with monkeypatch.context() as m:
        m.setattr(v, "equations_equivalent", slow)
        with pytest.raises(CASTimeout):
            v._relations_equal(Eq(y, x), Eq(y, x), rng, v._Deadline(0.3))
    with monkeypatch.context() as m:
        m.setattr(v, "parse_answer", slow)
        assert v.check_item("(1, 2)", _spec(sympy.Tuple(1, 2)), 0.3, 0) == {"status": "timeout",
                                                                           "check": "time_limit"}


def test_equation_undecided_at_points_goes_to_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """When too few random points evaluate (``equations_equivalent`` gives None), math-verify decides
    both ways, under its share of the budget, and says so in ``check``."""
    spec = _spec(Eq(y, 2 * x), "equation")
    seen: list[tuple] = []
    real = v._math_verify

    def spy(gold, cand, dl):  # type: ignore[no-untyped-def]
        seen.append((gold, cand))
        return real(gold, cand, dl)

    monkeypatch.setattr(v, "equations_equivalent", lambda e1, e2, rng: None)
    monkeypatch.setattr(v, "_math_verify", spy)
    assert v.check_candidate("y = 2x", spec) == {"status": "correct", "check": "equation_math_verify"}
    assert seen == [(Eq(y, 2 * x), Eq(y, 2 * x))]
    assert v.check_candidate("y = 3x", spec) == {"status": "wrong", "check": "equation_math_verify"}
    assert v.check_candidate("2x = y", spec) == {"status": "correct", "check": "equation_math_verify"}


def test_each_verifier_step_in_check_scalar_is_under_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact-integer simplification, the equation comparison and the antiderivative's parse are
    each cut off at what is left of the answer's budget (a stalled step is a timeout, not a verdict)."""
    slow = _stalls(2)

    timeout = {"status": "timeout", "check": "time_limit"}
    with monkeypatch.context() as m:
        m.setattr(v, "equations_equivalent", slow)
        assert v.check_item("y = x", _spec(Eq(y, x), "equation"), 0.5, 0) == timeout
    with monkeypatch.context() as m:
        m.setattr(v.sympy, "nsimplify", slow)
        assert v.check_item("5.0", _spec(sympy.Integer(5), "exact_integer"), 0.5, 0) == timeout
    with monkeypatch.context() as m:  # the antiderivative's own step (the problem's parse, d/dx)
        m.setattr(v.sympy, "diff", slow)
        started = time.monotonic()
        assert v.check_item("x^2", _spec(x**2, "antiderivative", 2 * x, "x"), 0.5, 0) == timeout
        assert time.monotonic() - started < 1.5


def test_math_verify_runs_under_our_timer_not_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """math-verify's own ``signal.alarm`` would replace our timer (same ITIMER_REAL): a stalled
    comparison must still stop at our share of the budget and read as "not shown equal"."""
    import math_verify.grader

    monkeypatch.setattr(math_verify.grader, "sympy_expr_eq", _stalls(3))
    started = time.monotonic()
    assert v._math_verify(Rational(1, 2), Rational(1, 3), v._Deadline(1.5)) is False
    assert time.monotonic() - started < 1.4


def test_decimal_error_is_computed_past_double_precision() -> None:
    # the error is 1e-22 inside the bound: 15 digits round it onto the wrong side, 30 do not
    shown = Rational(1234, 10**4)
    assert v._decimal_ok("0.1234", shown, shown + Rational(101, 10**6) - Rational(1, 10**22)) is True


def test_element_equal_never_compares_a_structure_with_an_element(monkeypatch: pytest.MonkeyPatch) -> None:
    """A structure against an element is unequal before any comparison runs; elements reach
    math-verify as (gold, candidate)."""
    rng, dl = random.Random(0), v._Deadline(5)
    calls: list[tuple] = []
    monkeypatch.setattr(v, "_math_verify", lambda g, c, d: calls.append((g, c)) or True)
    assert v._element_equal(sympy.Tuple(1, 2), sympy.Integer(1), rng, dl) is False
    assert v._element_equal(sympy.Integer(1), sympy.Tuple(1, 2), rng, dl) is False
    assert v._element_equal(sympy.FiniteSet(1), sympy.Integer(1), rng, dl) is False
    assert calls == []
    assert v._element_equal(Rational(1, 2), x, rng, dl) is True
    assert calls == [(Rational(1, 2), x)]


def test_only_two_equations_are_compared_at_points(monkeypatch: pytest.MonkeyPatch) -> None:
    rng, dl = random.Random(0), v._Deadline(5)
    calls: list[tuple] = []
    monkeypatch.setattr(v, "equations_equivalent", lambda c, g, r: calls.append((c, g)) or True)
    monkeypatch.setattr(v, "_math_verify", lambda g, c, d: False)
    assert v._relations_equal(Eq(y, x), sympy.Lt(y, x), rng, dl) is False
    assert v._relations_equal(sympy.Lt(y, x), Eq(y, x), rng, dl) is False
    assert calls == []
    assert v._relations_equal(Eq(y, x), Eq(x, y), rng, dl) is True
    assert calls == [(Eq(x, y), Eq(y, x))]


def test_structured_parse_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = _stalls(3, sympy.Tuple(1, 2))

    monkeypatch.setattr(v, "parse_answer", slow)
    started = time.monotonic()
    assert v.check_item("(1, 2)", _spec(sympy.Tuple(1, 2)), 0.5, 0) == {"status": "timeout", "check": "time_limit"}
    assert time.monotonic() - started < 2.0


def test_values_decide_when_math_verify_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "_math_verify", lambda g, c, d: False)
    for verifier in ("sympy_equal", "derivative"):
        assert v.check_candidate("x + x", _spec(2 * x, verifier)) == {"status": "correct", "check": "numeric_points"}
        assert v.check_candidate("2 + 1", _spec(sympy.Integer(3), verifier)) == {"status": "correct",
                                                                                 "check": "simplify"}


def test_check_item_passes_its_seed_and_reads_recursion(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(v, "check_candidate", lambda c, s, b, seed: seen.append((c, b, seed)) or {"status": "x"})
    assert v.check_item("1", _spec(sympy.Integer(1)), 2.5, 7) == {"status": "x"} and seen == [("1", 2.5, 7)]

    def deep(*args):  # type: ignore[no-untyped-def]
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(v, "check_candidate", deep)
    assert v.check_item("1", _spec(sympy.Integer(1)), 2.5, 7) == {"status": "unparsable", "check": "recursion"}


def test_a_verifier_without_a_check_is_a_programming_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "VERIFIERS", (*v.VERIFIERS, "new_kind"))
    with pytest.raises(AssertionError, match="verifier 'new_kind' is in VERIFIERS but has no check"):
        v.check_candidate("2", _spec(sympy.Integer(1), "new_kind"))  # math-verify says no: no check left


def test_public_defaults_and_the_unknown_verifier_message() -> None:
    import inspect
    import re

    params = inspect.signature(v.check_candidate).parameters
    assert params["budget_s"].default == 5.0 and params["seed"].default == 0
    with pytest.raises(ValueError, match="^" + re.escape(f"unknown verifier 'nope' (one of {', '.join(v.VERIFIERS)})")
                       + "$"):
        v.check_candidate("1", _spec(sympy.Integer(1), "nope"))


def test_random_points_come_from_the_seeded_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same seed draws the same points, on the plain and the percent route alike."""
    draws: list[float] = []

    def spy(a, b, syms, rng, rel_tol):  # type: ignore[no-untyped-def]
        draws.append(rng.random())
        return True

    monkeypatch.setattr(v, "agree_numerically", spy)
    monkeypatch.setattr(v, "_math_verify", lambda g, c, d: False)
    fifty = 50 * sympy.sin(x) ** 2 + 50 * sympy.cos(x) ** 2  # 50, written so that it keeps its symbol
    assert v.check_candidate("x + 49", _spec(fifty), seed=3) == {"status": "correct", "check": "numeric_points"}
    assert v.check_candidate("50%", _spec(fifty), seed=3) == {"status": "correct",
                                                              "check": "numeric_points_percent"}
    assert draws == [random.Random(3).random()] * 2


def test_parsing_both_sides_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = _stalls(3, sympy.Integer(1))

    timeout = {"status": "timeout", "check": "time_limit"}
    for name in ("parse_answer", "parse_srepr"):
        with monkeypatch.context() as m:
            m.setattr(v, name, slow)
            started = time.monotonic()
            assert v.check_item("1", _spec(sympy.Integer(1)), 0.5, 0) == timeout, name
            assert time.monotonic() - started < 2.0, name


def test_defaults_reach_the_deadline_and_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Called without them, an answer gets 5 s and the points of seed 0."""
    from types import SimpleNamespace

    budgets: list[float] = []
    seeds: list[object] = []

    class Deadline(v._Deadline):
        def __init__(self, seconds: float) -> None:
            budgets.append(seconds)
            super().__init__(seconds)

    monkeypatch.setattr(v, "_Deadline", Deadline)
    monkeypatch.setattr(v, "random", SimpleNamespace(Random=lambda seed: seeds.append(seed) or random.Random(seed)))
    assert v.check_candidate("0.75", _spec(Rational(3, 4)))["status"] == "correct"
    assert budgets == [5.0] and seeds == [0]
