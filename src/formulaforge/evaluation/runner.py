"""Evaluate a model on a stage split: n runs of generation, extraction, every metric.

The model is passed in already loaded (base, with stages, or a PEFT adapter), so this
module does not care how it was built. Each run samples with its own seed (or decodes
greedily); predictions keep the raw continuation next to the extracted formula so a
reader can audit the extractor.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.datasets.prompts import render_prompt
from formulaforge.evaluation.extract import extract_formula
from formulaforge.evaluation.metrics.aggregate import summarize_runs
from formulaforge.evaluation.metrics.formula_aware import formula_metrics
from formulaforge.evaluation.metrics.render import render_metrics
from formulaforge.evaluation.metrics.standard import DEFAULT_MODE, StandardScorer, check_mode
from formulaforge.models.generation import SamplingConfig, generate_batched
from formulaforge.utils.atomic import claim_output, write_json_atomic
from formulaforge.utils.jsonl import write_jsonl

Scorer = Callable[[Sequence[str], Sequence[str]], dict[str, float]]


def canonical_whitespace(text: str) -> str:
    """One space between tokens on both sides before scoring.

    Labels keep their source line breaks (``align`` rows); predictions come out of the
    extractor on one line. Whitespace carries no meaning in LaTeX math, and leaving it
    would charge CER for newlines. Applied identically to predictions and labels.
    """
    return " ".join(text.split())


@dataclass
class EvalConfig:
    runs: int = 5
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    batch_size: int = 8
    few_shot: int = 0
    seed: int = 0
    render_metric: bool = True
    system: str | None = None
    metric_workers: int = 2
    metric_mode: str = DEFAULT_MODE
    """Strings the five literature metrics score: ``tokenized`` or ``mathbridge``
    (:mod:`formulaforge.evaluation.metrics.standard`)."""

    def __post_init__(self) -> None:
        check_mode(self.metric_mode)


def few_shot_input(query: str, examples: Sequence[dict[str, Any]]) -> str:
    """Prefix ``k`` solved training examples to the query, in the same user-message format."""
    if not examples:
        return query
    shots = "\n\n".join(f"Example {i + 1}:\n{ex['input']}\nAnswer: {ex['label']}" for i, ex in enumerate(examples))
    return f"{shots}\n\nNow the task:\n{query}"


def default_scorers(render: bool = True, metric_mode: str = DEFAULT_MODE) -> list[Scorer]:
    scorers: list[Scorer] = [StandardScorer(metric_mode), formula_metrics]
    if render:
        scorers.append(render_metrics)
    return scorers


PARALLEL_MIN_PAIRS = 500
"""Below this many pairs the scorers run in this process: a pool costs more than it saves."""


def score(
    predictions: Sequence[str], labels: Sequence[str], scorers: Sequence[Scorer], workers: int = 1
) -> dict[str, float]:
    """Every scorer's metrics for one run, in scorer order.

    With ``workers > 1`` (and enough pairs) the scorers run side by side in a process
    pool: the literature's five metrics and the formula-aware ones each take a few
    CPU-seconds on 10,000 pairs and share no work, so two cores halve the wall time
    (docs/benchmarks.md, issue 5). Workers are forked, so nothing is re-imported.

    Scorers get whitespace-canonical strings, except one with ``reads_raw`` set (the
    ``mathbridge`` mode scores the strings as written).
    """
    preds = [canonical_whitespace(p) for p in predictions]
    refs = [canonical_whitespace(r) for r in labels]

    def inputs(scorer: Scorer) -> tuple[Sequence[str], Sequence[str]]:
        return (list(predictions), list(labels)) if getattr(scorer, "reads_raw", False) else (preds, refs)

    workers = min(workers, len(scorers), os.cpu_count() or 1)
    out: dict[str, float] = {}
    if workers <= 1 or len(preds) < PARALLEL_MIN_PAIRS or "fork" not in mp.get_all_start_methods():
        for scorer in scorers:
            out.update(scorer(*inputs(scorer)))
        return out
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        futures = [pool.submit(scorer, *inputs(scorer)) for scorer in scorers]
        for future in futures:
            out.update(future.result())
    return out


def evaluate(
    model: Any,
    tokenizer: Any,
    records: Sequence[dict[str, Any]],
    config: EvalConfig,
    train_records: Sequence[dict[str, Any]] = (),
    scorers: Sequence[Scorer] | None = None,
    generate_kwargs: dict[str, Any] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return ``(prediction rows, metrics)``; metrics hold per-run values and mean/std."""
    if not records:
        raise ValueError("no records to evaluate")
    scorers = list(scorers) if scorers is not None else default_scorers(config.render_metric, config.metric_mode)
    rng = random.Random(config.seed)
    shots = rng.sample(list(train_records), min(config.few_shot, len(train_records))) if config.few_shot else []
    prompts = [render_prompt(few_shot_input(r["input"], shots), tokenizer, system=config.system) for r in records]
    labels = [r["label"] for r in records]
    rows: list[dict[str, Any]] = []
    per_run: list[dict[str, float]] = []
    n_runs = 1 if config.sampling.greedy else config.runs
    tokens = seconds = 0.0
    for run in range(n_runs):
        sampling = SamplingConfig(**{**config.sampling.__dict__, "seed": config.sampling.seed + run})
        gens = generate_batched(model, tokenizer, prompts, sampling, config.batch_size, on_batch, generate_kwargs)
        predictions = [extract_formula(g.text) for g in gens]
        for rec, gen, pred in zip(records, gens, predictions):
            rows.append({"id": rec["id"], "run": run, "prediction": pred, "label": rec["label"], "output": gen.text})
        run_metrics = score(predictions, labels, scorers, config.metric_workers)
        run_metrics["no_formula"] = sum(1 for p in predictions if not p) / len(predictions)
        per_run.append(run_metrics)
        tokens += sum(g.new_tokens for g in gens)
        seconds += sum(g.seconds for g in gens)
    metrics: dict[str, Any] = summarize_runs(per_run)
    metrics["_meta"] = {
        "n_samples": len(records),
        "runs": n_runs,
        "greedy": config.sampling.greedy,
        "few_shot": config.few_shot,
        "max_new_tokens": config.sampling.max_new_tokens,
        "tokens_per_second": tokens / seconds if seconds else None,
        "metric_mode": config.metric_mode,
    }
    return rows, metrics


EVAL_KIND = "eval"  # marker kind of an evaluation folder (utils.atomic)


def write_eval(out_dir: str | Path, rows: Sequence[dict[str, Any]], metrics: dict[str, Any], *,
               force: bool = False) -> None:
    """predictions.jsonl + metrics.json; ``out_dir`` must be absent, empty or an earlier eval unless ``force``."""
    out = claim_output(out_dir, EVAL_KIND, force=force)
    write_jsonl(out / "predictions.jsonl", rows)
    write_json_atomic(out / "metrics.json", metrics)
