"""A tiny pipeline run folder for the web-UI tests: real data and stage sets from a small LaTeX
corpus, and MSFT stages I..III saved in the pipeline's layout (random adapters, no training:
the UI only has to load and serve them); a free local port for the tests that start a server."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml
from corpus_helpers import write_corpus


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tiny_run(root: Path, model_dir: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM

    from formulaforge.models.msft.adapter import MSFTAdapter
    from formulaforge.models.msft.config import MSFTConfig
    from formulaforge.models.msft.io import save_run
    from formulaforge.pipeline.config import parse_config
    from formulaforge.pipeline.steps import step_data, step_stages

    raw = {"name": "tiny-app", "out": str(root / "runs" / "{name}"),
           "data": {"sources": [str(write_corpus(root))], "min_context_tokens": 16},
           "stages": {"stage12_subset": None, "stage3_subset": None, "max_chain": 4},
           "model": {"name": str(model_dir)}, "msft": {"r1": 4, "alpha": 8, "r2": 8, "r3": 2}}
    cfg = parse_config(raw)
    run_dir = root / "runs" / "tiny-app"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw))
    step_data(cfg, run_dir, lambda _: None)
    step_stages(cfg, run_dir, lambda _: None)
    g = torch.Generator().manual_seed(1)
    for stage in (1, 2, 3):
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        adapter = MSFTAdapter.inject(model, MSFTConfig(r1=4, alpha=8, r2=8, r3=2), range(1, stage + 1))
        with torch.no_grad():
            for s in adapter.stages:
                for _, p in adapter.stage_parameters(s):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        save_run(run_dir / "train" / f"stage{stage}", adapter, str(model_dir))
    return run_dir


def add_eval_rows(run_dir: Path) -> None:
    """Evaluation outputs in the pipeline's layout for the Compare tab: the stage-III row
    predicts every label exactly, the baseline row a fixed wrong formula (fixtures, not a model)."""
    import json

    from formulaforge.evaluation.metrics import summarize_runs
    from formulaforge.evaluation.metrics.standard import standard_metrics
    from formulaforge.utils.jsonl import read_jsonl, write_jsonl

    tests = list(read_jsonl(run_dir / "stages" / "stage1" / "test.jsonl"))[:6]
    labels = [t["label"] for t in tests]
    for row, preds in (("baseline", ["x + 1"] * len(tests)), ("stage3", labels)):
        out = run_dir / "eval" / row
        out.mkdir(parents=True, exist_ok=True)
        write_jsonl(out / "predictions.jsonl", [
            {"id": t["id"], "run": 0, "prediction": p, "label": t["label"], "output": p}
            for t, p in zip(tests, preds, strict=True)])
        metrics = summarize_runs([standard_metrics(preds, labels)])
        metrics["_meta"] = {"n_samples": len(tests), "runs": 1, "greedy": True, "few_shot": 0,
                            "max_new_tokens": 16}
        (out / "metrics.json").write_text(json.dumps(metrics))
