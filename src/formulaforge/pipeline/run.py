"""Run a recipe: the steps in order, skipping those already done with the same settings.

A step's key hashes its own config sections together with the keys of the steps it reads
from, so changing the data settings reruns everything downstream, while changing only the
evaluation settings reruns only the evaluations and the report.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
import traceback
from collections.abc import Callable
from typing import Any

import yaml

from formulaforge.pipeline.config import ConfigError, RunConfig, preflight
from formulaforge.pipeline.manifest import RunManifest
from formulaforge.pipeline.steps import Step, plan_steps
from formulaforge.utils.atomic import check_output, claim_output, write_text_atomic
from formulaforge.utils.quiet import library_output

MODE_NOTES = {"paper": "eqs. 1, 3, 4 as written", "residual": "FormulaForge's residual D-plugin"}


def step_keys(cfg: RunConfig, steps: list[Step]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for step in steps:
        own = cfg.section_hash(*step.sections) if step.sections else ""
        inputs = "|".join(keys[name] for name in step.after)
        keys[step.name] = hashlib.sha256(f"{step.name}|{own}|{inputs}".encode()).hexdigest()[:16]
    return keys


def meta_param_report(cfg: RunConfig, source: Any = None) -> list[dict[str, Any]]:
    """Parameters each stage adds, from a weightless (meta-device) copy of the model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from formulaforge.models.loading import _cached, resolve_model
    from formulaforge.models.msft.adapter import MSFTAdapter
    from formulaforge.models.msft.config import MSFTConfig

    src = _cached(source or resolve_model(cfg.model.name))
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
    """Print the plan from the recipe alone: no weights, network or data needed.

    What cannot be checked here (a missing source folder, a hub model neither cached nor
    reachable, a model config that cannot be read) is listed as a warning; a misspelt alias
    is still an error.
    """
    from formulaforge.models.loading import HubUnreachable, resolve_model

    warnings: list[str] = []
    source = None
    try:
        source = resolve_model(cfg.model.name)  # a misspelt alias raises: a real error
    except HubUnreachable as exc:
        warnings.append(f"model.name: {exc}")
    try:
        preflight(cfg)
    except ConfigError as exc:
        warnings += [line.strip().removeprefix("- ") for line in str(exc).splitlines()[1:]]
    steps = plan_steps(cfg)
    run_dir = cfg.run_dir
    manifest = RunManifest(run_dir) if (run_dir / "manifest.json").exists() else None
    keys = step_keys(cfg, steps)
    log(f"run directory: {run_dir}")
    log(f"model: {cfg.model.name} (dtype {cfg.model.dtype})")
    report: list[dict[str, Any]] = []
    if source is not None:
        try:
            report = meta_param_report(cfg, source)
        except (OSError, ValueError, KeyError) as exc:
            warnings.append(f"model.name: cannot read the config of {cfg.model.name!r} "
                            f"({str(exc).splitlines()[0][:200]}); parameter counts skipped")
    m = cfg.msft
    log(f"msft: mode {m.mode} ({MODE_NOTES[m.mode]}), r1 {m.r1}, alpha {m.alpha:g}, r2 {m.r2}, r3 {m.r3}, "
        f"dropout {m.dropout:g}" + (", joint learning" if m.joint else "")
        + (", training from scratch (TFS)" if m.from_scratch else ""))
    for n in cfg.train.stages:
        t = getattr(cfg.train, f"stage{n}")
        log(f"  stage {n}: batch {t.batch_size} x {t.grad_accum} accumulation = {t.batch_size * t.grad_accum} "
            f"pairs per step, lr {t.lr:g}, weight decay {t.weight_decay:g}")
    for r in report:
        log(f"  stage {r['stage']} {r['name']:<9} +{r['new']:>12,} params ({r['new_pct']:.3f}% of {r['base']:,})")
    sizes: dict[str, int] = {}
    stage_dir = run_dir / "stages"
    for n in cfg.train.stages:
        path = stage_dir / f"stage{n}" / "train.jsonl"
        if path.exists():
            sizes[f"stage{n}"] = sum(1 for _ in path.open())
    plan: dict[str, Any] = {"params": report, "steps": []}
    if cfg.experiment is not None:
        from formulaforge.pipeline.experiment import arms

        e = cfg.experiment
        per_seed = {a.name: a.steps for a in arms(cfg)}
        total = e.stage1_steps + len(e.seeds) * sum(per_seed.values())
        log(f"experiment: seeds {e.seeds}; A (stage I) {e.stage1_steps} steps; per seed "
            + ", ".join(f"{k} {v}" for k, v in per_seed.items())
            + f"; {total} optimizer steps in all; label NLL on {e.nll_items} held-out items, "
            f"greedy metrics on {e.gen_items} items for {', '.join(e.gen_arms)}")
        plan["experiment"] = {"optimizer_steps": total, "per_seed": per_seed}
    for n in [] if cfg.experiment is not None else cfg.train.stages:
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
    if cfg.experiment is None:
        log(f"eval: {e.limit or 'all'} test samples x {1 if e.greedy else e.runs} run(s), "
            f"<= {e.max_new_tokens} new tokens")
    for step in steps:
        done = manifest is not None and manifest.is_done(step.name, keys[step.name])
        log(f"  [{'done' if done else 'todo'}] {step.name}")
    for w in warnings:
        log(f"warning: {w}")
    log(f"dry run: nothing loaded or written; {len(warnings)} warning(s)")
    plan["warnings"] = warnings
    return plan


RUN_KIND = "pipeline-run"  # marker kind of a `formulaforge run` folder (utils.atomic)


def run(cfg: RunConfig, log: Callable[[str], None] = print, *, force: bool = False) -> dict[str, Any]:
    """Execute every step not yet done; a failure stops the run and is kept in the manifest.

    The run folder must be absent, empty or an earlier run (checked before anything is
    written); ``force`` writes into any folder (deleting nothing that is not a step output).
    """
    from formulaforge.models.loading import resolve_model

    preflight(cfg)
    run_dir = cfg.run_dir
    check_output(run_dir, RUN_KIND, force=force)  # a folder that holds something else: refused first
    resolve_model(cfg.model.name)  # an unknown or unreachable model fails here, before any work
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
        previous = manifest.steps.get(step.name)
        if step.workdir and previous is not None and previous.settings_hash != keys[step.name]:
            stale = run_dir / step.workdir  # its settings changed: never resume from stale checkpoints
            if stale.is_dir():
                log(f"  settings changed: clearing {stale}")
                shutil.rmtree(stale)
        manifest.start(step.name, keys[step.name])
        t0 = time.perf_counter()
        prefix = f"[{i}/{len(steps)}]"
        try:  # the step's own one-line summary, numbered; library chatter goes to run.log
            with library_output(run_dir / "run.log"):
                outputs = step.run(cfg, run_dir, lambda message, p=prefix: log(f"{p} {message}"))
        except BaseException as exc:
            manifest.fail(step.name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
            raise
        timings[step.name] = time.perf_counter() - t0
        manifest.finish(step.name, outputs)
    return {"run_dir": str(run_dir), "timings": timings, "steps": [s.name for s in steps]}
