"""Addition problems: random n-digit operands, optional multi-operand, or the exhaustive
0..N x 0..N grid.

The answer is computed with Python integers (exact at any size); tests check it against
sympy's ``Add`` and against the numbers parsed back from the problem text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from formulaforge.datasets.synthetic.records import SynthRecord


@dataclass(frozen=True)
class AdditionConfig:
    min_digits: int = 1
    max_digits: int = 5
    min_operands: int = 2
    max_operands: int = 2
    grid_max: int = 1000
    """Largest operand of the exhaustive grid (``grid=True``)."""


def addition_record(operands: list[int], method: str = "random") -> SynthRecord:
    total = sum(operands)
    # srepr written directly (what sympy prints for an unevaluated Add of Integers: sorted
    # arguments; a test pins this) - building sympy objects would cost 10x for the 1M grid.
    problem_srepr = "Add(" + ", ".join(f"Integer({v})" for v in sorted(operands)) + ")"
    plain = " + ".join(str(v) for v in operands)
    digits = max(len(str(abs(v))) for v in operands)
    return SynthRecord(
        task="addition",
        problem=f"What is {plain}?",
        problem_latex=" + ".join(str(v) for v in operands),
        problem_srepr=problem_srepr,
        answer=str(total),
        answer_latex=str(total),
        answer_srepr=f"Integer({total})",
        difficulty=digits * (len(operands) - 1),
        verifier="exact_integer",
        variable="",
        method=method,
        extra={"operands": operands, "digits": digits},
    )


def _random_operand(rng: random.Random, digits: int) -> int:
    if digits == 1:
        return rng.randint(0, 9)
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def generate(n: int, rng: random.Random, config: AdditionConfig = AdditionConfig()) -> Iterator[SynthRecord]:
    """``n`` random problems; digit counts and operand counts uniform in their ranges."""
    if not (1 <= config.min_digits <= config.max_digits):
        raise ValueError("need 1 <= min_digits <= max_digits")
    if not (2 <= config.min_operands <= config.max_operands):
        raise ValueError("need 2 <= min_operands <= max_operands")
    for _ in range(n):
        k = rng.randint(config.min_operands, config.max_operands)
        ops = [_random_operand(rng, rng.randint(config.min_digits, config.max_digits)) for _ in range(k)]
        yield addition_record(ops, "random" if k == 2 else "multi_operand")


def grid(config: AdditionConfig = AdditionConfig()) -> Iterator[SynthRecord]:
    """Every ``a + b`` with ``0 <= a, b <= grid_max`` (1,002,001 problems for 1000)."""
    for a in range(config.grid_max + 1):
        for b in range(config.grid_max + 1):
            yield addition_record([a, b], "grid")
