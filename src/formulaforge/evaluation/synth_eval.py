"""Base vs fine-tuned on synthetic test problems: generate, then grade with the answer checker.

Both models see the same records and the same prompt the curriculum trained on (problem +
the boxed-answer instruction, rendered by :func:`render_prompt`), decode greedily through
the one generation path (:func:`generate_batched`), and are graded by
:class:`AnswerChecker`, so the two reports differ only by the adapter.

Output folder::

    OUT/records.jsonl                    the sampled test records (re-grade with synth check)
    OUT/<label>/predictions.jsonl        {id, task, output, new_tokens}
    OUT/<label>/check.json               the checker's report (summary + per-row verdicts)
    OUT/summary.json                     per-task accuracy, Wilson 95% CI, no-answer share, tokens/s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulaforge.datasets.prompts import render_prompt
from formulaforge.datasets.synthetic import sft
from formulaforge.evaluation.answers import AnswerChecker, CheckerConfig
from formulaforge.utils.atomic import write_json_atomic
from formulaforge.utils.jsonl import write_jsonl


@dataclass
class EvalRequest:
    model: str
    data_dirs: list[Path]
    out: Path
    run: Path | None = None  # MSFT run folder of the fine-tuned adapter (None: base only)
    base: bool = True
    split: str = "test"
    n_per_task: int = 40
    max_new_tokens: int = 48
    batch_size: int = 16
    max_input: int = 256
    seed: int = 0
    checker_workers: int = 1
    budget_s: float = 5.0


def sample_records(data_dirs: list[Path], split: str, n_per_task: int, seed: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for d in data_dirs:
        task, folder = sft.read_task_dir(d)
        if task in seen:
            raise ValueError(f"two data folders for task {task!r}")
        seen.add(task)
        rows += sft.load_split(folder, split, n_per_task, seed=seed)
    if not rows:
        raise ValueError(f"no {split} records in {', '.join(map(str, data_dirs))}")
    return rows


def predict(model: Any, tokenizer: Any, records: list[dict[str, Any]], req: EvalRequest,
            on_batch: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from formulaforge.models.generation import SamplingConfig, generate_batched

    prompts = [render_prompt(sft.user_message(r), tokenizer) for r in records]
    sampling = SamplingConfig(greedy=True, max_new_tokens=req.max_new_tokens, seed=req.seed, max_input=req.max_input)
    t0 = time.perf_counter()
    gens = generate_batched(model, tokenizer, prompts, sampling, req.batch_size, on_batch=on_batch)
    seconds = time.perf_counter() - t0
    tokens = sum(g.new_tokens for g in gens)
    preds = [{"id": r["id"], "task": r["task"], "output": g.text, "new_tokens": g.new_tokens}
             for r, g in zip(records, gens, strict=True)]
    return preds, {"generation_s": round(seconds, 2), "new_tokens": tokens,
                   "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else 0.0}


def _task_table(summary: dict[str, Any]) -> dict[str, Any]:
    return {task: {k: s[k] for k in ("n", "correct", "accuracy", "accuracy_ci95", "no_answer") if k in s}
            for task, s in summary["per_task"].items()}


def evaluate(req: EvalRequest, progress: Callable[[str], Any] = print,
             on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Generate and grade with the base model and/or base + ``req.run``; write ``req.out``."""
    from formulaforge.models.inference import load_for_inference

    if not req.base and req.run is None:
        raise ValueError("nothing to evaluate: give a fine-tuned run, or keep the base model")
    records = sample_records(req.data_dirs, req.split, req.n_per_task, req.seed)
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "records.jsonl", records)
    by_id = {r["id"]: r for r in records}
    models: list[tuple[str, Path | None]] = ([("base", None)] if req.base else []) + (
        [("finetuned", req.run)] if req.run is not None else [])
    summary: dict[str, Any] = {"model": req.model, "run": str(req.run) if req.run else None, "split": req.split,
                               "n_per_task": req.n_per_task, "max_new_tokens": req.max_new_tokens, "models": {}}
    config = CheckerConfig(budget_s=req.budget_s, workers=req.checker_workers)
    for label, run in models:
        loaded = load_for_inference(req.model, stages=run)
        progress(f"{label}: generating {len(records)} answers with {loaded.description}")
        preds, gen_stats = predict(loaded.model, loaded.tokenizer, records, req, on_batch)
        del loaded
        write_jsonl(out / label / "predictions.jsonl", preds)
        t0 = time.perf_counter()
        with AnswerChecker(config) as checker:
            report = checker.check(by_id, preds)
        check_s = time.perf_counter() - t0
        write_json_atomic(out / label / "check.json", report)
        s = report["summary"]
        summary["models"][label] = {
            "accuracy": s["accuracy"], "accuracy_ci95": s["accuracy_ci95"], "no_answer": s["no_answer"], "n": s["n"],
            "per_task": _task_table(s), **gen_stats, "check_s": round(check_s, 2),
        }
        progress(format_summary(label, summary["models"][label]))
    write_json_atomic(out / "summary.json", summary)
    return summary


def format_summary(label: str, s: dict[str, Any]) -> str:
    lo, hi = s["accuracy_ci95"]
    head = (f"{label}: accuracy {s['accuracy']:.3f} [{lo:.2f}, {hi:.2f}] no_answer {s['no_answer']:.3f} "
            f"(n={s['n']}, {s['tokens_per_s']} tokens/s)")
    lines = [head]
    for task, t in s["per_task"].items():
        lo, hi = t["accuracy_ci95"]
        lines.append(f"  {task:12s} {t['accuracy']:.3f} [{lo:.2f}, {hi:.2f}] no_answer {t['no_answer']:.3f} (n={t['n']})")
    return "\n".join(lines)
