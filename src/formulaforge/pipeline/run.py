"""Run a recipe: the steps in order, skipping those already done with the same settings.

A step's key hashes its own config sections together with the keys of the steps it reads
from, so changing the data settings reruns everything downstream, while changing only the
evaluation settings reruns only the evaluations and the report.
"""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from collections.abc import Callable
from typing import Any

import yaml

from formulaforge.pipeline.config import RunConfig, preflight
from formulaforge.pipeline.manifest import RunManifest
from formulaforge.pipeline.steps import Step, plan_steps
from formulaforge.utils.atomic import claim_output, write_text_atomic


def step_keys(cfg: RunConfig, steps: list[Step]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for step in steps:
        own = cfg.section_hash(*step.sections) if step.sections else ""
        inputs = "|".join(keys[name] for name in step.after)
        keys[step.name] = hashlib.sha256(f"{step.name}|{own}|{inputs}".encode()).hexdigest()[:16]
    return keys


def meta_param_report(cfg: RunConfig) -> list[dict[str, Any]]:
    """Parameters each stage adds, from a weightless (meta-device) copy of the model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from formulaforge.models.loading import _cached, resolve_model
    from formulaforge.models.msft.adapter import MSFTAdapter
    from formulaforge.models.msft.config import MSFTConfig

    src = _cached(resolve_model(cfg.model.name))
    kwargs: dict[str, Any] = {"trust_remote_code": cfg.model.trust_remote_code}
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    config = AutoConfig.from_pretrained(src.name_or_path, **kwargs)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    m = cfg.msft
    msft = MSFTConfig.from_dict({"r1": m.r1, "alpha": m.alpha, "dropout": m.dropout, "r2": m.r2, "r3": m.r3,
                                 "mode": m.mode, **({"targets": m.targets} if m.targets else {})})
    adapter = MSFTAdapter.inject(model, msft, stages=tuple(cfg.train.stages))
    return [{"stage": r.stage, "name": r.name, "new": r.new_params, "cumulative": r.cumulative_params,
             "base": r.base_params, "new_pct": r.new_pct} for r in adapter.param_report()]


def dry_run(cfg: RunConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Validate and print the plan without loading any weights."""
    preflight(cfg)
    steps = plan_steps(cfg)
    run_dir = cfg.run_dir
    manifest = RunManifest(run_dir) if (run_dir / "manifest.json").exists() else None
    keys = step_keys(cfg, steps)
    log(f"run directory: {run_dir}")
    log(f"model: {cfg.model.name} (dtype {cfg.model.dtype})")
    report = meta_param_report(cfg)
    for r in report:
        log(f"  stage {r['stage']} {r['name']:<9} +{r['new']:>12,} params ({r['new_pct']:.3f}% of {r['base']:,})")
    sizes: dict[str, int] = {}
    stage_dir = run_dir / "stages"
    for n in cfg.train.stages:
        path = stage_dir / f"stage{n}" / "train.jsonl"
        if path.exists():
            sizes[f"stage{n}"] = sum(1 for _ in path.open())
    plan: dict[str, Any] = {"params": report, "steps": []}
    for n in cfg.train.stages:
        t = getattr(cfg.train, f"stage{n}")
        n_train = sizes.get(f"stage{n}")
        if n_train is not None and t.train_limit:
            n_train = min(n_train, t.train_limit)
        per_epoch = math.ceil(n_train / (t.batch_size * t.grad_accum)) if n_train else None
        total = t.max_steps or (math.ceil(per_epoch * t.epochs) if per_epoch else None)
        tokens = total * t.batch_size * t.grad_accum * (t.max_input_tokens + t.max_output_tokens) if total else None
        log(f"  train stage {n}: {n_train if n_train is not None else '(built at run time)'} pairs, "
            f"{total if total else '?'} optimizer steps, <= {tokens:,} tokens" if tokens else
            f"  train stage {n}: {n_train if n_train is not None else '(built at run time)'} pairs, "
            f"{'max_steps ' + str(t.max_steps) if t.max_steps else str(t.epochs) + ' epochs'}")
        plan["steps"].append({"stage": n, "pairs": n_train, "optimizer_steps": total, "max_tokens": tokens})
    e = cfg.eval
    log(f"eval: {e.limit or 'all'} test samples x {1 if e.greedy else e.runs} run(s), "
        f"<= {e.max_new_tokens} new tokens")
    for step in steps:
        done = manifest is not None and manifest.is_done(step.name, keys[step.name])
        log(f"  [{'done' if done else 'todo'}] {step.name}")
    return plan


RUN_KIND = "pipeline-run"  # marker kind of a `formulaforge run` folder (utils.atomic)


def run(cfg: RunConfig, log: Callable[[str], None] = print, *, force: bool = False) -> dict[str, Any]:
    """Execute every step not yet done; a failure stops the run and is kept in the manifest.

    The run folder must be absent, empty or an earlier run (checked before anything is
    written); ``force`` writes into any folder (deleting nothing that is not a step output).
    """
    preflight(cfg)
    run_dir = cfg.run_dir
    claim_output(run_dir, RUN_KIND, force=force)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    manifest = RunManifest(run_dir)
    steps = plan_steps(cfg)
    keys = step_keys(cfg, steps)
    timings: dict[str, float] = {}
    for i, step in enumerate(steps, 1):
        if manifest.is_done(step.name, keys[step.name]):
            log(f"[{i}/{len(steps)}] {step.name}: done earlier, skipped")
            continue
        log(f"[{i}/{len(steps)}] {step.name} ...")
        manifest.start(step.name, keys[step.name])
        t0 = time.perf_counter()
        try:
            outputs = step.run(cfg, run_dir, log)
        except BaseException as exc:
            manifest.fail(step.name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
            raise
        timings[step.name] = time.perf_counter() - t0
        manifest.finish(step.name, outputs)
    return {"run_dir": str(run_dir), "timings": timings, "steps": [s.name for s in steps]}
