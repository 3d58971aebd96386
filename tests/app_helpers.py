"""A tiny pipeline run folder for the web-UI tests: real data and stage sets from a small LaTeX
corpus, and MSFT stages I..III saved in the pipeline's layout (random adapters, no training:
the UI only has to load and serve them)."""

from __future__ import annotations

from pathlib import Path

import yaml
from corpus_helpers import write_corpus


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
