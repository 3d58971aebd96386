"""Grade model outputs against synthetic records: extract in this process, verify in
kill-able worker processes.

Extraction is pure string scanning (cannot hang). Parsing and comparing run sympy on
model text, which can: ``10^{10^{10}}`` or a deeply nested expression may loop inside C
code that no signal interrupts. So answers go to :class:`~formulaforge.utils.timeout.TimeoutWorker`
processes in batches (one round trip per batch, each answer under its own SIGALRM
budget inside the worker). If a batch overruns - some answer is stuck in C - the worker
is killed and that batch is redone one answer at a time, so only the guilty answer is
marked ``timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from formulaforge.evaluation.answers.extract import extract_answer
from formulaforge.evaluation.answers.stats import summarize
from formulaforge.evaluation.answers.verify import check_batch, check_item, warm_up
from formulaforge.utils.timeout import CASTimeout, TimeoutWorker

SPEC_FIELDS = ("verifier", "answer_srepr", "problem_srepr", "variable")


@dataclass
class CheckerConfig:
    budget_s: float = 5.0
    """Time for one answer inside the worker (parse + compare)."""
    hard_margin_s: float = 3.0
    """Extra wall time before a worker is killed (covers C-level hangs)."""
    startup_s: float = 180.0
    """Allowance for a fresh worker process to import its libraries (not charged to answers)."""
    batch_size: int = 16
    workers: int = 1
    seed: int = 0


class AnswerChecker:
    """Reusable: keeps its worker processes between calls; close it (or use ``with``)."""

    def __init__(self, config: CheckerConfig | None = None) -> None:
        self.config = config or CheckerConfig()
        self._workers = [TimeoutWorker() for _ in range(max(1, self.config.workers))]
        self._free: list[TimeoutWorker] = list(self._workers)
        self._lock = threading.Lock()

    def close(self) -> None:
        for w in self._workers:
            w.close()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_batch(self, worker: TimeoutWorker, items: list[tuple[str | None, dict[str, Any]]], seed: int
                   ) -> list[dict[str, Any]]:
        cfg = self.config
        pending = [(i, it) for i, it in enumerate(items) if it[0] is not None]
        results: list[dict[str, Any] | None] = [
            None if c is not None else {"status": "no_answer", "check": "extract"} for c, _ in items]
        if pending:
            try:
                worker.call(warm_up, timeout=cfg.startup_s)  # no-op round trip when already warm
                out = worker.call(check_batch, [it for _, it in pending], cfg.budget_s, seed,
                                  timeout=cfg.budget_s * len(pending) + cfg.hard_margin_s)
                for (i, _), verdict in zip(pending, out):
                    results[i] = verdict
            except (CASTimeout, RuntimeError):
                # Someone hung past SIGALRM (or crashed the worker): isolate it, one by one.
                for i, (cand, spec) in pending:
                    try:
                        worker.call(warm_up, timeout=cfg.startup_s)  # a killed worker restarts cold
                        results[i] = worker.call(check_item, cand, spec, cfg.budget_s, seed + i,
                                                 timeout=cfg.budget_s + cfg.hard_margin_s)
                    except CASTimeout:
                        results[i] = {"status": "timeout", "check": "worker_killed"}
                    except RuntimeError as exc:
                        results[i] = {"status": "unparsable", "check": f"worker_error:{exc}"[:200]}
        return [r for r in results if r is not None]

    def check(self, records: dict[str, dict[str, Any]], predictions: Iterable[dict[str, Any]],
              progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Verdicts and summary for prediction rows ``{"id", "output"}`` against ``records`` (by id)."""
        rows: list[dict[str, Any]] = []
        items: list[tuple[str | None, dict[str, Any]]] = []
        for pred in predictions:
            rid = pred.get("id")
            if rid not in records:
                raise ValueError(f"prediction id {rid!r} is not in the records file")
            rec = records[rid]
            output = pred.get("output")
            if not isinstance(output, str):
                raise ValueError(f"prediction {rid!r}: 'output' must be a string")
            # The prompt's numbers are never an answer: use the prompt the row gives, else the problem.
            ext = extract_answer(output, pred.get("prompt") or rec.get("problem"))
            rows.append({"id": rid, "task": rec.get("task", ""), "difficulty": rec.get("difficulty", 0),
                         "extracted": ext.text, "extraction": ext.method, "gold": rec.get("answer")})
            items.append((ext.text, {k: rec.get(k) for k in SPEC_FIELDS}))

        bs = max(1, self.config.batch_size)
        batches = [(start, items[start:start + bs]) for start in range(0, len(items), bs)]
        verdicts: list[dict[str, Any] | None] = [None] * len(items)

        def run(job: tuple[int, list[tuple[str | None, dict[str, Any]]]]) -> None:
            start, batch = job
            with self._lock:
                worker = self._free.pop()
            try:
                out = self._run_batch(worker, batch, self.config.seed + start)
            finally:
                with self._lock:
                    self._free.append(worker)
            verdicts[start:start + len(batch)] = out
            if progress is not None:
                progress(len(batch))

        if len(self._workers) == 1:
            for job in batches:
                run(job)
        else:
            with ThreadPoolExecutor(len(self._workers)) as pool:
                list(pool.map(run, batches))

        for row, verdict in zip(rows, verdicts):
            assert verdict is not None
            row.update(verdict)
        return {"summary": summarize(rows), "rows": rows}
