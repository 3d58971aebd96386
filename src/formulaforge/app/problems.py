"""Math problems for the web UI: a fresh generated one, or one the visitor types.

These functions run inside a killable worker process (:class:`~formulaforge.utils.timeout.TimeoutWorker`),
never in the server: sympy on visitor input can take forever, and only a process can be
stopped for sure. They return plain record dicts, the same shape ``synth generate`` writes,
so the answer checker grades them exactly as it grades a test set.
"""

from __future__ import annotations

import re
from typing import Any

import sympy

from formulaforge.datasets.synthetic import TASKS
from formulaforge.datasets.synthetic.records import SynthRecord, expr_forms, record_id, tree_size

TYPED_TASKS = ("addition", "roots", "derivatives", "integrals")
"""Tasks a visitor can type a problem for (a derivation needs premises and operations: generated only)."""
_INT_SUM = re.compile(r"^\s*-?\d{1,60}(\s*\+\s*-?\d{1,60}){1,9}\s*$")


def make_problem(task: str, seed: int, attempts: int = 20) -> dict[str, Any]:
    """One verified problem of ``task`` (generators may reject a draw; try a few seeds)."""
    from formulaforge.datasets.synthetic.pipeline import generate_records

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    for k in range(attempts):
        result = generate_records(task, 1, seed + 7919 * k)
        if result.records:
            return result.records[0].to_dict()
    raise ValueError(f"the {task} generator rejected {attempts} draws in a row; try again")


def _parse_expression(text: str) -> sympy.Expr:
    from formulaforge.evaluation.answers.parse import parse_answer

    expr = parse_answer(text)
    if expr is None or not isinstance(expr, sympy.Expr):
        raise ValueError(f"cannot read {text!r} as an expression (try e.g. x*sin(x) or \\frac{{x}}{{2}})")
    return expr


def _variable(expr: sympy.Expr) -> sympy.Symbol:
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    if len(free) > 1:
        raise ValueError(f"use one variable, got {', '.join(s.name for s in free)}")
    return free[0] if free else sympy.Symbol("x")


def _finish(rec: SynthRecord) -> dict[str, Any]:
    row = rec.to_dict()
    row["id"] = record_id(rec.task, "typed:" + rec.problem_srepr)
    row["method"] = "typed"
    return row


def problem_from_text(task: str, text: str) -> dict[str, Any]:
    """A record for a typed problem, with its answer computed (and checked) by sympy."""
    from formulaforge.datasets.synthetic.addition import addition_record

    text = text.strip()
    if task not in TYPED_TASKS:
        raise ValueError(f"typed problems work for {', '.join(TYPED_TASKS)}; use 'New problem' for {task}")
    if task == "addition":
        if not _INT_SUM.match(text):
            raise ValueError("type integers joined by '+', e.g. 428 + 982")
        return _finish(addition_record([int(p) for p in text.split("+")], method="typed"))
    expr = _parse_expression(text)
    if task == "roots":
        answer = sympy.sqrt(expr)
        if expr.free_symbols:
            x = _variable(expr)
            pos = sympy.Symbol(x.name, positive=True)
            answer = sympy.factor(sympy.sqrt(expr.subs(x, pos))).subs(pos, x)
        plain, latex, srepr = expr_forms(answer)
        return _finish(SynthRecord(
            task="roots", problem=f"Simplify sqrt({sympy.sstr(expr)})" + (" for x > 0." if expr.free_symbols else "."),
            problem_latex=rf"\sqrt{{{sympy.latex(expr)}}}", problem_srepr=sympy.srepr(expr),
            answer=plain, answer_latex=latex, answer_srepr=srepr, difficulty=tree_size(expr),
            verifier="sympy_equal", variable=_variable(expr).name if expr.free_symbols else "", method="typed"))
    x = _variable(expr)
    p_plain, p_latex, _ = expr_forms(expr)
    if task == "derivatives":
        return _calculus_record("derivatives", expr, sympy.diff(expr, x), x, "derivative",
                                f"Differentiate f({x}) = {p_plain} with respect to {x}.",
                                rf"\frac{{d}}{{d{x}}}\left({p_latex}\right)")
    from formulaforge.datasets.synthetic.calculus import is_elementary

    antiderivative = sympy.integrate(expr, x, risch=False)
    if not is_elementary(antiderivative):
        raise ValueError(f"sympy finds no elementary antiderivative of {sympy.sstr(expr)}")
    return _calculus_record("integrals", expr, antiderivative, x, "antiderivative",
                            f"Find an antiderivative of f({x}) = {p_plain} with respect to {x}.",
                            rf"\int \left({p_latex}\right) d{x}")


def _calculus_record(task: str, expr: sympy.Expr, answer: sympy.Expr, x: sympy.Symbol, verifier: str,
                     problem: str, problem_latex: str) -> dict[str, Any]:
    a_plain, a_latex, a_srepr = expr_forms(answer)
    return _finish(SynthRecord(
        task=task, problem=problem, problem_latex=problem_latex, problem_srepr=sympy.srepr(expr),
        answer=a_plain, answer_latex=a_latex, answer_srepr=a_srepr, difficulty=tree_size(expr),
        verifier=verifier, variable=x.name, method="typed"))
