"""Benchmark for issue 9 (synthetic math): generation rate per task and answer-checker
throughput and reading accuracy, each side by side with its baseline in one run.

* generation: problems/s per task with 2 worker processes vs 1 (baseline);
* checking: answers/s with batching on 2 workers vs 1 worker, vs one round trip per
  answer (baseline: no batching);
* reading: share of *correct, well-formed* answers (5 output styles) graded correct by
  our checker vs the course project's approach (first integer / exact string match).

Run:  nice -n 10 env PYTHONPATH=src python bench/bench_synth.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time

from formulaforge.datasets.synthetic.pipeline import generate_records
from formulaforge.evaluation.answers import AnswerChecker, CheckerConfig
from formulaforge.evaluation.answers.verify import check_item
from formulaforge.utils.timeout import TimeoutWorker

STYLES = {
    "boxed": lambda r: f"Let me work it out step by step.\nThe result is \\boxed{{{r['answer_latex']}}}.",
    "phrase_inline": lambda r: f"So the final answer is ${r['answer_latex']}$.",
    "plain": lambda r: f"Answer: {r['answer']}",
    "chat_display": lambda r: f"<|im_start|>assistant\nSure! {r['problem']}\nWe compute it.\n\\[ {r['answer_latex']} \\]"
                              "<|im_end|>",
    "echo_prompt": lambda r: f"{r['problem']}\nThe answer is \\(\\displaystyle {r['answer_latex']}\\).",
}


def naive_grade(output: str, rec: dict) -> bool:
    """The course project's grader: first integer for numbers, exact string otherwise."""
    if rec["verifier"] == "exact_integer":
        m = re.search(r"-?\d+", output)
        return bool(m) and m.group(0) == rec["answer"]
    return rec["answer"] in output.split() or rec["answer_latex"] == output.strip()


def bench_generation(sizes: dict[str, int]) -> dict:
    out = {}
    for task, n in sizes.items():
        row = {}
        for workers in (1, 2):
            res = generate_records(task, n, seed=123, workers=workers)
            row[f"w{workers}_per_s"] = len(res.records) / res.seconds
            row[f"w{workers}_s"] = res.seconds
        rej = sum(v for k, v in res.stats.items() if k.startswith("rejected"))
        row["acceptance"] = len(res.records) / (len(res.records) + rej) if rej else 1.0
        row["speedup"] = row["w2_per_s"] / row["w1_per_s"]
        out[task] = row
        print(f"generate {task:12s} n={n:5d}  1 proc {row['w1_per_s']:9.1f}/s  2 procs {row['w2_per_s']:9.1f}/s  "
              f"x{row['speedup']:.2f}  acceptance {row['acceptance']:.2f}", flush=True)
    t0 = time.perf_counter()
    res = generate_records("addition", 0, options={"grid_max": 199})
    grid_rate = len(res.records) / (time.perf_counter() - t0)
    out["addition_grid_per_s"] = grid_rate
    print(f"generate addition grid 0..199^2 ({len(res.records)} problems): {grid_rate:.0f}/s "
          f"(full 0..1000 grid ~{1002001 / grid_rate:.0f} s)", flush=True)
    return out


def bench_checking(per_task: dict[str, int]) -> dict:
    records = []
    for task, n in per_task.items():
        records += [r.to_dict() for r in generate_records(task, n, seed=7).records]
    by_id = {r["id"]: r for r in records}
    preds = [{"id": r["id"], "output": style(r), "style": name} for r in records for name, style in STYLES.items()]
    out: dict = {"answers": len(preds)}

    for workers in (1, 2):
        with AnswerChecker(CheckerConfig(workers=workers, batch_size=16)) as checker:
            checker.check(by_id, preds[:4])  # start the workers (spawn + imports) before timing
            t0 = time.perf_counter()
            report = checker.check(by_id, preds)
            dt = time.perf_counter() - t0
        out[f"batched_w{workers}_per_s"] = len(preds) / dt
        print(f"check batched, {workers} worker(s): {len(preds) / dt:7.1f} answers/s", flush=True)

    # Baseline: one inter-process round trip per answer.
    from formulaforge.evaluation.answers.extract import extract_answer

    sample = preds[: min(len(preds), 200)]
    with TimeoutWorker() as worker:
        worker.call(len, [1], timeout=60)
        t0 = time.perf_counter()
        for p in sample:
            rec = by_id[p["id"]]
            ext = extract_answer(p["output"], rec["problem"])
            worker.call(check_item, ext.text, rec, 5.0, 0, timeout=10)
        dt = time.perf_counter() - t0
    out["unbatched_w1_per_s"] = len(sample) / dt
    print(f"check one call per answer (baseline): {len(sample) / dt:7.1f} answers/s", flush=True)

    # Reading accuracy on correct answers: ours vs naive, per task and style.
    ours: dict = {}
    naive: dict = {}
    for row, p in zip(report["rows"], preds):
        key = by_id[p["id"]]["task"]
        ours.setdefault(key, []).append(row["status"] == "correct")
        naive.setdefault(key, []).append(naive_grade(p["output"], by_id[p["id"]]))
    out["reading"] = {t: {"ours": sum(v) / len(v), "naive": sum(naive[t]) / len(naive[t]), "n": len(v)}
                      for t, v in ours.items()}
    for t, v in out["reading"].items():
        print(f"reading correct answers {t:12s} ours {v['ours']:.3f}  naive {v['naive']:.3f}  (n={v['n']})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    sizes = {"addition": 4000, "roots": 1000, "derivatives": 200, "integrals": 150, "derivations": 150}
    sizes = {k: max(10, int(v * scale)) for k, v in sizes.items()}
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    result = {"generation": bench_generation(sizes),
              "checking": bench_checking({k: max(6, int(v * scale)) for k, v in
                                          {"addition": 40, "roots": 40, "derivatives": 30, "integrals": 30,
                                           "derivations": 30}.items()})}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
