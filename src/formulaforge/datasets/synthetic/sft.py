"""Synthetic records -> supervised fine-tuning pairs (``input`` / ``label``) for the shared trainer.

The instruction asks for a final ``\\boxed{}`` answer and is the *same sentence* at training
and evaluation time, so what the model learns to write is exactly what the answer
checker reads first (its rule 1: the last ``\\boxed{...}``). The label is short on purpose:
a one-line statement of the answer, not a worked solution (we have no verified worked
solutions, and on a CPU budget every label token costs).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from formulaforge.utils.jsonl import read_jsonl

INSTRUCTION = "Solve the problem. End your reply with the final answer in \\boxed{}."


def user_message(record: dict[str, Any]) -> str:
    """The user turn for a synthetic problem: the problem, then the boxed-answer instruction."""
    return f"{record['problem']}\n{INSTRUCTION}"


def target_text(record: dict[str, Any]) -> str:
    """The label: the verified answer in LaTeX, boxed."""
    return f"The final answer is \\boxed{{{record['answer_latex']}}}."


def to_sft(record: dict[str, Any]) -> dict[str, Any]:
    """A stage record (``id``, ``input``, ``label``) as :mod:`formulaforge.training.data` reads it."""
    for key in ("id", "problem", "answer_latex"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"synthetic record lacks string field {key!r}: {str(record)[:120]}")
    return {"id": record["id"], "task": record.get("task", ""), "input": user_message(record),
            "label": target_text(record)}


def read_task_dir(path: str | Path) -> tuple[str, Path]:
    """(task, folder) of a ``synth generate`` output folder; the task comes from its manifest."""
    import json

    folder = Path(path)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{folder} is not a 'synth generate' folder (no manifest.json)")
    task = json.loads(manifest.read_text(encoding="utf-8")).get("task")
    if not isinstance(task, str) or not task:
        raise ValueError(f"{manifest} names no task")
    return task, folder


def load_split(folder: Path, split: str, limit: int | None = None, *, seed: int = 0,
               required: bool = True) -> list[dict[str, Any]]:
    """Records of one split; ``limit`` keeps a seeded random subset (not the first N: files are
    written in generation order, which for some tasks correlates with difficulty)."""
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"no {split} split in {folder} (expected {path})")
        return []
    rows = list(read_jsonl(path))
    if limit is not None and 0 <= limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)
    return rows


def mix(groups: Sequence[Iterable[dict[str, Any]]], seed: int) -> list[dict[str, Any]]:
    """Concatenate and shuffle (mixed-task training)."""
    rows = [r for g in groups for r in g]
    random.Random(seed).shuffle(rows)
    return rows
