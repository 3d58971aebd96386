"""Decide whether an extracted answer is right for a record (runs inside the worker).

Order: parse the candidate; math-verify's ``verify`` against the gold answer (fast, and
the field's reference grader); then the record's own verifier, which knows the task:

* ``exact_integer`` - the value must equal the integer exactly (``1,410`` and ``1410.0``
  are fine, ``1410.2`` is not);
* ``sympy_equal`` - exact simplification to 0, or agreement at random points; a decimal
  answer is accepted when it is exact (0.75 for 3/4), or carries at least 4 significant
  digits and is within one unit of its last shown digit (rounded or truncated); a
  percentage ``P\\%`` is accepted for the gold P or P/100 (as math-verify does). A gold
  that is a structure (tuple, set, interval, inequality, matrix, equation) is compared as
  one (:mod:`.structures`), the candidate read whole by math-verify's parser;
* ``derivative`` - agreement with the gold derivative at random points (exact as fallback);
* ``antiderivative`` - d/dx of the candidate equals the integrand (so any constant of
  integration and any equivalent form is accepted);
* ``equation`` - the same equation up to swapped sides; a bare expression is accepted only
  if the gold has one side with the unknown function (a derivation's ``f'(x) = ...``) or is
  an assignment ``x = ...``, and it equals the other side (``a + 3z = 0`` never accepts 0).

math-verify's own signal timers are switched off here: everything runs under one
:func:`~formulaforge.utils.timeout.time_limit` budget per answer, and the worker process
around it is killed if even that does not fire (a C-level loop).
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

import sympy
from sympy.core.relational import Relational

from formulaforge.datasets.synthetic.derivations import equations_equivalent
from formulaforge.datasets.synthetic.numeric import agree_numerically
from formulaforge.datasets.synthetic.records import VERIFIERS
from formulaforge.datasets.synthetic.srepr import parse_srepr
from formulaforge.evaluation.answers.extract import _top_level_rhs
from formulaforge.evaluation.answers.parse import parse_answer
from formulaforge.evaluation.answers.structures import is_structure, structures_equal
from formulaforge.utils.timeout import CASTimeout, time_limit

logging.getLogger("math_verify").setLevel(logging.ERROR)  # we disable its timers on purpose

_DECIMAL = re.compile(r"^\s*[-\u2212]?\d[\d,]*\.(\d+)\s*$")


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise CASTimeout("answer check exceeded its time budget")
        return left


MATH_VERIFY_SHARE = 0.4
"""At most this share of an answer's budget goes to math-verify, so a slow symbolic
comparison there still leaves time for the task's own check."""


def _math_verify(gold: sympy.Basic, cand: sympy.Basic, dl: _Deadline) -> bool:
    from math_verify import verify

    limit = min(dl.left() * MATH_VERIFY_SHARE, dl.left())
    try:
        with time_limit(limit):
            # math-verify catches every exception, our CASTimeout included: it then says False.
            ok = bool(verify(gold, cand, timeout_seconds=None))
    except CASTimeout:
        ok = False
    except Exception:  # noqa: BLE001 - a failed comparison is "not shown equal", not an error
        ok = False
    dl.left()
    return ok


def _exact_zero(expr: sympy.Basic) -> bool:
    try:
        return sympy.simplify(expr) == 0
    except CASTimeout:
        raise
    except Exception:  # noqa: BLE001
        return False


def _symbols(*exprs: sympy.Basic) -> list[sympy.Symbol]:
    out: set[sympy.Symbol] = set()
    for e in exprs:
        out |= e.free_symbols
    return sorted(out, key=lambda s: s.name)


def _equal_values(a: sympy.Basic, b: sympy.Basic, rng: random.Random, dl: _Deadline) -> tuple[bool, str]:
    syms = _symbols(a, b)
    with time_limit(dl.left()):
        numeric = agree_numerically(a, b, syms, rng, rel_tol=1e-9) if syms else None
    if numeric is not None:
        return numeric, "numeric_points"
    with time_limit(dl.left()):
        return _exact_zero(a - b), "simplify"


def _decimal_ok(text: str, value: sympy.Basic, gold: sympy.Basic) -> bool | None:
    """Judge a plain decimal against an exact value; None when ``text`` is not a decimal."""
    m = _DECIMAL.match(text)
    if not m or gold.free_symbols:
        return None
    places = len(m.group(1))
    exact = sympy.Rational(text.strip().replace(",", "").replace("\u2212", "-"))
    if sympy.simplify(exact - gold) == 0:  # 0.75 for 3/4: exact, however few digits
        return True
    digits = len(re.sub(r"\D", "", text).lstrip("0"))
    if digits < 4:
        return False
    err = abs(sympy.N(value - gold, 30))
    return bool(err <= sympy.Rational(1, 10**places) * sympy.Rational(101, 100))


def _has_unknown(e: sympy.Basic) -> bool:
    return bool(e.atoms(sympy.Derivative, sympy.Integral, sympy.core.function.AppliedUndef))


def _bare_value_side(eq: sympy.Eq) -> sympy.Basic | None:
    """The side of ``eq`` a bare answer must equal: the side opposite the unknown function
    (``f'(x) = 2x`` -> ``2x``), or the value of an assignment (``x = 5`` -> ``5``); None when
    a bare value cannot answer the equation (``a + 3z = 0``: "0" is not an answer)."""
    if _has_unknown(eq.lhs) and not _has_unknown(eq.rhs):
        return eq.rhs
    if _has_unknown(eq.rhs) and not _has_unknown(eq.lhs):
        return eq.lhs
    if isinstance(eq.lhs, sympy.Symbol) and eq.lhs not in eq.rhs.free_symbols:
        return eq.rhs
    return None


_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*percent\s*\}|\s+percent)\s*$")


def _split_percent(text: str) -> tuple[str, bool]:
    """``"50\\%"`` -> ``("50", True)``: a percentage is its number, read both ways later."""
    m = _PERCENT.search(text)
    return (text[: m.start()], True) if m and m.start() > 0 else (text, False)


def _element_equal(gold: sympy.Basic, cand: sympy.Basic, rng: random.Random, dl: _Deadline) -> bool:
    """Two elements of structured answers: identical, math-verify (6-decimal rounding for
    floats, as for scalars there), else exact / numeric agreement."""
    if gold == cand:
        return True
    if is_structure(gold) or is_structure(cand):
        return False
    if _math_verify(gold, cand, dl):
        return True
    try:
        return _equal_values(cand, gold, rng, dl)[0]
    except CASTimeout:
        raise
    except Exception:  # noqa: BLE001 - not comparable: not shown equal
        return False


def _relations_equal(gold: sympy.Basic, cand: sympy.Basic, rng: random.Random, dl: _Deadline) -> bool:
    if isinstance(gold, sympy.Equality) and isinstance(cand, sympy.Equality):
        with time_limit(dl.left()):
            numeric = equations_equivalent(cand, gold, rng)
        if numeric is not None:
            return numeric
    return _math_verify(gold, cand, dl)


def _check_structured(candidate: str, gold: sympy.Basic, rng: random.Random, dl: _Deadline) -> dict[str, Any]:
    with time_limit(dl.left()):
        cand = parse_answer(candidate)
    dl.left()
    if cand is None:
        return {"status": "unparsable", "check": "parse"}
    ok, how = structures_equal(gold, cand, lambda g, c: _element_equal(g, c, rng, dl),
                               lambda g, c: _relations_equal(g, c, rng, dl))
    return {"status": "correct" if ok else "wrong", "check": f"structure_{how}"}


_UNEVALUATED = re.compile(r"\d\s*(?:[-+*/^]|\\times|\\cdot|\\div)\s*[({]?\s*\d")
"""Arithmetic left undone between two numbers (a "1,410" or "1410.0" is a single number)."""


def check_candidate(candidate: str, spec: dict[str, Any], budget_s: float = 5.0,
                    seed: int = 0) -> dict[str, Any]:
    """Verdict for one extracted answer: ``{"status": correct|wrong|unparsable, "check": ...}``.

    ``spec`` holds the record's ``verifier``, ``answer_srepr``, ``problem_srepr`` and ``variable``.
    """
    verifier = spec["verifier"]
    if verifier not in VERIFIERS:  # before any check: an unknown name must not pass as "sympy_equal"
        raise ValueError(f"unknown verifier {verifier!r} (one of {', '.join(VERIFIERS)})")
    dl = _Deadline(budget_s)
    rng = random.Random(seed)
    with time_limit(dl.left()):
        gold = parse_srepr(spec["answer_srepr"])
    if verifier == "sympy_equal" and is_structure(gold):
        return _check_structured(candidate, gold, rng, dl)
    text = candidate if verifier == "equation" else _top_level_rhs(candidate)
    text, percent = _split_percent(text) if verifier in ("sympy_equal", "exact_integer") else (text, False)
    with time_limit(dl.left()):
        cand = parse_answer(text)
    dl.left()  # math-verify swallows exceptions: re-check the budget after it
    if cand is None:
        return {"status": "unparsable", "check": "parse"}
    if not isinstance(cand, sympy.Basic) or (is_structure(cand) and not isinstance(cand, Relational)):
        return {"status": "wrong", "check": "not_a_single_answer"}
    if percent:  # "50\\%" answers 50 and 0.5 (math-verify reads it both ways too)
        for value, shown in ((cand, text), (cand / 100, "")):  # the decimal rule reads the digits shown
            verdict = _check_scalar(verifier, shown, value, gold, spec, rng, dl)
            if verdict["status"] == "correct":
                return {**verdict, "check": verdict["check"] + "_percent"}
        return verdict
    return _check_scalar(verifier, text, cand, gold, spec, rng, dl)


def _check_scalar(verifier: str, text: str, cand: sympy.Basic, gold: sympy.Basic, spec: dict[str, Any],
                  rng: random.Random, dl: _Deadline) -> dict[str, Any]:
    """The task's own check of one parsed (non-structured) answer."""

    if verifier == "exact_integer":
        if cand.free_symbols or not cand.is_number:
            return {"status": "wrong", "check": "exact_integer"}
        if _UNEVALUATED.search(text):  # "22288 + 2" restates the question; sympy would evaluate it
            return {"status": "wrong", "check": "unevaluated_expression"}
        with time_limit(dl.left()):
            value = sympy.nsimplify(cand) if isinstance(cand, sympy.Float) else cand
            ok = bool(sympy.simplify(value - gold) == 0)
        return {"status": "correct" if ok else "wrong", "check": "exact_integer"}

    if verifier == "equation":
        if isinstance(cand, sympy.Eq):
            with time_limit(dl.left()):
                numeric = equations_equivalent(cand, gold, rng)
            if numeric is not None:  # decided at random points
                return {"status": "correct" if numeric else "wrong", "check": "equation_numeric"}
            ok = _math_verify(gold, cand, dl)
            return {"status": "correct" if ok else "wrong", "check": "equation_math_verify"}
        if isinstance(cand, sympy.core.relational.Relational):
            return {"status": "wrong", "check": "equation"}
        other = _bare_value_side(gold)
        if other is None:
            return {"status": "wrong", "check": "bare_value_for_equation"}
        ok, how = _equal_values(cand, other, rng, dl)
        return {"status": "correct" if ok else "wrong", "check": f"equation_rhs_{how}"}

    if isinstance(cand, sympy.core.relational.Relational):
        return {"status": "wrong", "check": "relation_for_expression"}

    if verifier == "sympy_equal":
        dec = _decimal_ok(text, cand, gold)
        if dec is not None:
            return {"status": "correct" if dec else "wrong", "check": "decimal"}

    if verifier != "antiderivative" and _math_verify(gold, cand, dl):
        return {"status": "correct", "check": "math_verify"}

    if verifier in ("sympy_equal", "derivative"):
        ok, how = _equal_values(cand, gold, rng, dl)
        return {"status": "correct" if ok else "wrong", "check": how}

    if verifier == "antiderivative":
        var = sympy.Symbol(spec.get("variable") or "x")
        with time_limit(dl.left()):
            integrand = parse_srepr(spec["problem_srepr"])
            # ln|u| is a valid antiderivative of u'/u; |u| = sqrt(u^2) keeps d/dx real and simple.
            smooth = cand.replace(sympy.Abs, lambda u: sympy.sqrt(u**2))
            derivative = sympy.diff(smooth, var)
        ok, how = _equal_values(derivative, integrand, rng, dl)
        return {"status": "correct" if ok else "wrong", "check": f"differentiate_{how}"}

    raise AssertionError(f"verifier {verifier!r} is in VERIFIERS but has no check")


_WARM = False


def warm_up() -> bool:
    """Import and exercise the parsers once, so a fresh worker's start-up (imports of sympy,
    math-verify, the LaTeX grammar: seconds on a busy machine) is never charged to an answer."""
    global _WARM
    if not _WARM:
        parse_answer(r"\frac{1}{2} + x")
        _WARM = True
    return True


def check_item(candidate: str | None, spec: dict[str, Any], budget_s: float, seed: int) -> dict[str, Any]:
    """Worker entry for one answer: errors and timeouts become verdicts, never exceptions."""
    if candidate is None:
        return {"status": "no_answer", "check": "extract"}
    try:
        return check_candidate(candidate, spec, budget_s, seed)
    except CASTimeout:
        return {"status": "timeout", "check": "time_limit"}
    except RecursionError:
        return {"status": "unparsable", "check": "recursion"}
    except Exception as exc:  # noqa: BLE001 - a crash on one answer must not end the run
        return {"status": "unparsable", "check": f"error:{type(exc).__name__}"}


def check_batch(items: list[tuple[str | None, dict[str, Any]]], budget_s: float,
                seed: int) -> list[dict[str, Any]]:
    """Worker entry for many answers (amortizes the inter-process round trip)."""
    return [check_item(c, s, budget_s, seed + i) for i, (c, s) in enumerate(items)]
