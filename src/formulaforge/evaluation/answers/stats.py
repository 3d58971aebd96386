"""Accuracy with Wilson score intervals, per task and per difficulty."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval (well-behaved at 0 and n, unlike the normal approximation)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(verdicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``accuracy`` counts no-answer and timeouts as wrong; ``no_answer`` is their own share."""
    rows = list(verdicts)

    def block(sub: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(sub)
        correct = sum(1 for r in sub if r["status"] == "correct")
        no_answer = sum(1 for r in sub if r["status"] == "no_answer")
        lo, hi = wilson_interval(correct, n)
        return {
            "n": n,
            "correct": correct,
            "accuracy": correct / n if n else 0.0,
            "accuracy_ci95": [round(lo, 4), round(hi, 4)],
            "no_answer": no_answer / n if n else 0.0,
            "unparsable": sum(1 for r in sub if r["status"] == "unparsable") / n if n else 0.0,
            "timeout": sum(1 for r in sub if r["status"] == "timeout") / n if n else 0.0,
        }

    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_task_diff: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_task[r["task"]].append(r)
        by_task_diff[r["task"]][int(r.get("difficulty") or 0)].append(r)
    out = block(rows)
    out["per_task"] = {}
    for task in sorted(by_task):
        entry = block(by_task[task])
        entry["per_difficulty"] = {str(d): block(v) for d, v in sorted(by_task_diff[task].items())}
        out["per_task"][task] = entry
    return out
