"""The one record shape every synthetic generator emits.

A record carries the problem and the answer three ways: plain text (what a model reads
when no LaTeX is wanted), LaTeX (what the prompt shows) and sympy ``srepr`` (exact, for
checking; parse it back with :func:`formulaforge.datasets.synthetic.srepr.parse_srepr`,
never with ``eval``). ``verifier`` names the check :mod:`formulaforge.evaluation.answers`
applies to a model's output, so an evaluation never has to guess from the task name.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import sympy

VERIFIERS = ("exact_integer", "sympy_equal", "derivative", "antiderivative", "equation")
"""Known verifiers: integer equality; value equality (exact, then numeric at random
points); derivative (equality with d/dx of the problem expression); antiderivative
(d/dx of the candidate equals the integrand, any constant allowed); equation (same
equation up to side order and a non-zero factor of -1)."""


@dataclass
class SynthRecord:
    task: str
    problem: str
    problem_latex: str
    problem_srepr: str
    answer: str
    answer_latex: str
    answer_srepr: str
    difficulty: int
    verifier: str
    variable: str = "x"
    method: str = ""
    group: str = ""
    """Records sharing a group always land in the same split (perturbations of one derivation)."""
    split: str = ""
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verifier not in VERIFIERS:
            raise ValueError(f"unknown verifier {self.verifier!r}; expected one of {VERIFIERS}")
        if not self.id:
            self.id = record_id(self.task, self.dedup_key())
        if not self.group:
            # The bare input (srepr, not the wording): "39 + 5346" and "5346 + 39" share a split.
            self.group = record_id(self.task, self.problem_srepr or self.problem)

    def dedup_key(self) -> str:
        """What makes two problems the same: the task and the exact input (not how it was made,
        so a forward and a backward integral of the same integrand are one problem)."""
        return f"{self.task}\x1f{self.problem_srepr}\x1f{self.problem}"

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        # Stable, readable column order: identity, problem, answer, bookkeeping.
        order = ["id", "task", "problem", "problem_latex", "problem_srepr", "answer", "answer_latex",
                 "answer_srepr", "difficulty", "verifier", "split", "variable", "method", "group", "extra"]
        return {k: row[k] for k in order}


def record_id(task: str, key: str) -> str:
    return f"{task}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:12]}"


def expr_forms(expr: sympy.Basic) -> tuple[str, str, str]:
    """(plain, latex, srepr) of a sympy object; plain uses ``**`` and explicit ``*``.

    LaTeX spells inverse trig functions ``\\arctan`` (not ``\\operatorname{atan}``), the form
    papers use and LaTeX parsers read.
    """
    return sympy.sstr(expr), sympy.latex(expr, inv_trig_style="full"), sympy.srepr(expr)


def tree_size(expr: sympy.Basic) -> int:
    """Number of nodes in the sympy tree: the difficulty measure for symbolic tasks."""
    return sum(1 for _ in sympy.preorder_traversal(expr))
