"""The steps of the main job, each reading and writing inside the run directory.

Layout: ``config.yaml``, ``manifest.json``, ``data/`` (triplets), ``stages/`` (stage
sets), ``train/stage<N>/`` (MSFT runs, each starting from the previous), ``eval/<row>/``
(baseline, few_shot, stage1..3) and ``report/``. Every step writes its outputs
atomically or into a folder that is only marked done in the manifest once complete.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulaforge.pipeline.config import RunConfig, StageTrainConfig
from formulaforge.utils.atomic import atomic_dir, write_json_atomic
from formulaforge.utils.jsonl import read_jsonl

Log = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    name: str
    sections: tuple[str, ...]  # the recipe sections whose settings this step uses
    run: Callable[[RunConfig, Path, Log], dict[str, Any]]
    after: tuple[str, ...] = ()  # the steps whose outputs it reads


def step_data(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
    from formulaforge.datasets.builder import BuildConfig, build_dataset

    d = cfg.data
    build = BuildConfig(min_context_tokens=d.min_context_tokens, tokenizer=d.tokenizer, seed=d.seed,
                        workers=d.workers, subsets=tuple(d.subsets.items()))
    from formulaforge.datasets.scale.plan import needs_engine

    if needs_engine(d.sources):  # arXiv bulk tars or URLs: the datatrove engine, local executor
        from formulaforge.datasets.scale.engine import EngineConfig, build_at_scale

        report = build_at_scale(d.sources, run_dir / "data", build, EngineConfig(tasks=d.workers, workers=d.workers))
    else:
        report = build_dataset(d.sources, run_dir / "data", build)
    manifest = json.loads((run_dir / "data" / "manifest.json").read_text())
    counts = manifest.get("counts", {})
    log(f"data: {counts.get('triplets', '?')} triplets -> {run_dir / 'data'}")
    return {"counts": counts, "report": str(report)[:200]}


def _subset(rows: list[dict[str, Any]], name: str | None) -> list[dict[str, Any]]:
    if name is None:
        return rows
    picked = [r for r in rows if r.get("subset") == name]
    return picked


def step_stages(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
    from formulaforge.datasets.stages import STAGES_KIND, StageOptions, build_stages

    s = cfg.stages
    options = StageOptions(max_chain=s.max_chain, stage2_variant=s.stage2_variant, seed=cfg.data.seed,
                           max_context_chars=s.max_context_chars)
    triplets = list(read_jsonl(run_dir / "data" / "triplets.jsonl"))
    early = _subset(triplets, s.stage12_subset)
    late = _subset(triplets, s.stage3_subset)
    if not early or not late:
        raise ValueError(
            f"subset {s.stage12_subset if not early else s.stage3_subset!r} is empty in this corpus; set "
            "stages.stage12_subset / stages.stage3_subset to null to use every triplet"
        )
    out = run_dir / "stages"
    with atomic_dir(out, STAGES_KIND) as tmp:
        build_stages(early, tmp / "s12", options)
        if s.stage3_subset != s.stage12_subset:
            build_stages(late, tmp / "s3", options)
            shutil.rmtree(tmp / "s12" / "stage3")
            shutil.move(str(tmp / "s3" / "stage3"), str(tmp / "s12" / "stage3"))
        for child in (tmp / "s12").iterdir():
            shutil.move(str(child), str(tmp / child.name))
        shutil.rmtree(tmp / "s12")
        shutil.rmtree(tmp / "s3", ignore_errors=True)
    counts = {f"stage{n}": {split: sum(1 for _ in read_jsonl(out / f"stage{n}" / f"{split}.jsonl"))
                            for split in ("train", "valid", "test")} for n in (1, 2, 3)}
    log("stages: " + ", ".join(f"{k} train {v['train']}" for k, v in counts.items()))
    return {"counts": counts}


def _train_settings(cfg: RunConfig, run_dir: Path, stage: int) -> Any:
    from formulaforge.models.msft.config import MSFTConfig
    from formulaforge.training.recipe import TrainSettings

    t: StageTrainConfig = getattr(cfg.train, f"stage{stage}")
    m = cfg.msft
    msft = MSFTConfig.from_dict({"r1": m.r1, "alpha": m.alpha, "dropout": m.dropout, "r2": m.r2, "r3": m.r3,
                                 "mode": m.mode, **({"targets": m.targets} if m.targets else {})})
    return TrainSettings(
        stage=stage, model=cfg.model.name, data=run_dir / "stages", out=run_dir / "train" / f"stage{stage}",
        from_run=None if stage == 1 or m.from_scratch else run_dir / "train" / f"stage{stage - 1}",
        mode=m.mode, joint=m.joint, from_scratch=m.from_scratch,
        epochs=t.epochs, max_steps=t.max_steps or -1, batch_size=t.batch_size, grad_accum=t.grad_accum,
        lr=t.lr, max_input=t.max_input_tokens, max_output=t.max_output_tokens, seed=t.seed,
        load_in_4bit=cfg.model.load_in_4bit, gradient_checkpointing=t.gradient_checkpointing or None,
        bf16=t.bf16 or None, trust_remote_code=cfg.model.trust_remote_code, report_to=[], msft=msft,
        train_limit=t.train_limit,
        on_changed="restart",  # the step key changed: checkpoints of the old settings are discarded
    )


def make_train_step(stage: int) -> Callable[[RunConfig, Path, Log], dict[str, Any]]:
    def step(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
        from formulaforge.training.recipe import train_stage

        result = train_stage(_train_settings(cfg, run_dir, stage), progress=log)
        t = result["training"]
        log(f"stage {stage}: {t['steps']} steps in {t['wall_s']:.0f} s, {t['trainable_params']:,} trainable")
        return {"training": t, "params": result["params"]}

    return step


def make_eval_step(row: str) -> Callable[[RunConfig, Path, Log], dict[str, Any]]:
    def step(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
        from formulaforge.evaluation.runner import EvalConfig, evaluate, write_eval
        from formulaforge.models.generation import SamplingConfig
        from formulaforge.models.inference import load_for_inference

        e = cfg.eval
        stage = int(row[-1]) if row.startswith("stage") else None
        data = run_dir / "stages" / "stage1"
        records = list(read_jsonl(data / "test.jsonl"))[: e.limit] if e.limit else list(read_jsonl(data / "test.jsonl"))
        train = list(read_jsonl(data / "train.jsonl")) if row == "few_shot" else []
        loaded = load_for_inference(
            cfg.model.name, stages=run_dir / "train" / f"stage{stage}" if stage else None,
            trust_remote_code=cfg.model.trust_remote_code,
        )
        sampling = SamplingConfig(greedy=e.greedy, temperature=e.temperature, top_p=e.top_p,
                                  max_new_tokens=e.max_new_tokens, seed=cfg.data.seed,
                                  max_input=cfg.train.stage1.max_input_tokens)
        config = EvalConfig(runs=e.runs, sampling=sampling, batch_size=e.batch_size,
                            few_shot=e.few_shot if row == "few_shot" else 0, seed=cfg.data.seed,
                            render_metric=e.render_metric, metric_mode=e.metric_mode)
        rows, metrics = evaluate(loaded.model, loaded.tokenizer, records, config, train_records=train)
        metrics["_meta"].update(model=loaded.description, row=row)
        out = run_dir / "eval" / row
        write_eval(out, rows, metrics)
        row_meta: dict[str, Any] = {}
        if loaded.msft is not None:
            report = loaded.msft.param_report()
            row_meta = {"trainable": report[-1].cumulative_params, "total": report[-1].base_params}
        write_json_atomic(out / "row.json", row_meta)
        log(f"eval {row}: BLEU {metrics['bleu']['mean']:.2f}, sBLEU {metrics['sacrebleu']['mean']:.2f}, "
            f"CER {metrics['cer']['mean']:.2f} ({e.metric_mode}) on {len(records)} samples x {metrics['_meta']['runs']} run(s)")
        return {"bleu": metrics["bleu"]["mean"], "n": len(records)}

    return step


def step_report(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
    from formulaforge.evaluation.report.build import build_report

    result = build_report([run_dir], run_dir / "report")
    log(f"report: {result['files']['markdown']}")
    return {"files": result["files"]}


def plan_steps(cfg: RunConfig) -> list[Step]:
    """The ordered steps this recipe asks for, each naming the steps it reads from."""
    steps = [Step("data", ("data",), step_data), Step("stages", ("stages",), step_stages, ("data",))]
    evals: list[str] = []
    if cfg.eval.baseline:
        steps.append(Step("eval_baseline", ("model", "eval"), make_eval_step("baseline"), ("stages",)))
        evals.append("eval_baseline")
        if cfg.eval.few_shot:
            steps.append(Step("eval_few_shot", ("model", "eval"), make_eval_step("few_shot"), ("stages",)))
            evals.append("eval_few_shot")
    # Training from scratch (paper Table 2, TFS) inserts every module at once: one step.
    trained = [max(cfg.train.stages)] if cfg.msft.from_scratch else list(cfg.train.stages)
    previous = "stages"
    for n in trained:
        train_name = f"train_stage{n}"
        steps.append(Step(train_name, ("model", "msft", "train"), make_train_step(n), ("stages", previous)))
        steps.append(Step(f"eval_stage{n}", ("model", "eval"), make_eval_step(f"stage{n}"), (train_name,)))
        evals.append(f"eval_stage{n}")
        previous = train_name
    steps.append(Step("report", ("eval",), step_report, tuple(evals)))
    return steps
