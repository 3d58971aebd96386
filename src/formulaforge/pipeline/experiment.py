"""The equal-compute MSFT experiment: does each stage beat a control given the same compute?

From one shared stage-I run (A) each seed trains:

* B - stage I continued for stage II's steps (the control for stage II);
* C - stage II (D-plugin, ``msft.r2``);
* D - C + stage III (Q-plugin, ``msft.r3``);
* E - C continued on stage II for stage III's steps (the control for stage III);
* F - one D-plugin of matched parameters (:func:`matched_d_rank`, 768 for 64/512/32) trained on
  the stage-II data for II + III's steps (the parameter control);
* C_res, D_res (``experiment.residual``) - C and D with the residual D-plugin.

Every arm is scored by teacher-forced label NLL per token on the same held-out stage-I test
items (``nll_items``); A, C, D and F of the first seed also by greedy generation metrics. The
report compares C-B, D-E, D-F and F-E per seed (bootstrap over items), across seeds (sign
agreement, minimum detectable effect) and states the conclusion in one sentence computed from
the numbers. Layout: ``RUN_DIR/exp/A``, ``RUN_DIR/exp/seed<S>/<ARM>/`` (an MSFT run folder plus
``nll.json``), ``RUN_DIR/exp/gen/<ARM>/``, ``RUN_DIR/report/experiment.{md,json,png}``. Each arm
is a step of the run manifest: a finished arm is skipped, a killed one resumes from its last
checkpoint (every ``save_steps``), an arm whose settings changed is retrained from scratch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulaforge.pipeline.config import RunConfig
from formulaforge.pipeline.steps import Log, Step, step_data, step_stages
from formulaforge.utils.atomic import write_json_atomic
from formulaforge.utils.jsonl import read_jsonl

COMPARISONS = (
    ("C", "B", "stage II vs stage I continued (equal steps)"),
    ("D", "E", "stage III vs stage II continued (equal steps)"),
    ("D", "F", "D+Q vs one D-plugin of matched parameters (equal steps)"),
    ("F", "E", "matched-width D-plugin vs D-plugin (equal steps)"),
)
RESIDUAL_COMPARISONS = (("C_res", "C", "residual vs paper D-plugin (stage II)"),
                        ("D_res", "D", "residual vs paper D-plugin (after stage III)"))


@dataclass(frozen=True)
class Arm:
    name: str
    stage: int  # the stage whose data (and train.stageN settings) it trains on
    steps: int
    parent: str | None  # the arm it starts from
    continues: bool  # True: keeps training the parent's own stages (init_from); False: adds a stage (from)
    mode: str | None = None
    r2: int | None = None


def matched_rank(cfg: RunConfig) -> int:
    from formulaforge.models.msft.config import matched_d_rank

    e = cfg.experiment
    assert e is not None
    return e.matched_r2 or matched_d_rank(cfg.msft.r1, cfg.msft.r2, cfg.msft.r3)


def arms(cfg: RunConfig) -> list[Arm]:
    e = cfg.experiment
    assert e is not None
    n2, n3, mode = e.stage2_steps, e.stage3_steps, cfg.msft.mode
    out = [
        Arm("B", 1, n2, "A", True),
        Arm("C", 2, n2, "A", False, mode),
        Arm("D", 3, n3, "C", False, mode),
        Arm("E", 2, n3, "C", True),
        Arm("F", 2, n2 + n3, "A", False, mode, matched_rank(cfg)),
    ]
    if e.residual:
        out += [Arm("C_res", 2, n2, "A", False, "residual"), Arm("D_res", 3, n3, "C_res", False, "residual")]
    return out


def arm_dir(run_dir: Path, arm: str, seed: int | None) -> Path:
    return run_dir / "exp" / ("A" if arm == "A" else f"seed{seed}/{arm}")


def _settings(cfg: RunConfig, run_dir: Path, arm: Arm, seed: int, out: Path) -> Any:
    from formulaforge.models.msft.config import MSFTConfig
    from formulaforge.training.recipe import TrainSettings

    e = cfg.experiment
    assert e is not None
    t = getattr(cfg.train, f"stage{arm.stage}")
    m = cfg.msft
    msft = MSFTConfig.from_dict({"r1": m.r1, "alpha": m.alpha, "dropout": m.dropout, "r2": arm.r2 or m.r2,
                                 "r3": m.r3, "mode": arm.mode or m.mode, **({"targets": m.targets} if m.targets else {})})
    parent = arm_dir(run_dir, arm.parent, seed) if arm.parent else None
    return TrainSettings(
        stage=arm.stage, model=cfg.model.name, data=run_dir / "stages", out=out,
        from_run=None if arm.continues else parent, init_from=parent if arm.continues else None,
        mode=None if arm.continues else (arm.mode or m.mode), max_steps=arm.steps,
        batch_size=t.batch_size, grad_accum=t.grad_accum, lr=t.lr, weight_decay=t.weight_decay,
        max_input=t.max_input_tokens, max_output=t.max_output_tokens, seed=seed,
        train_limit=arm.steps * t.batch_size * t.grad_accum, valid_limit=0, save_steps=e.save_steps,
        gradient_checkpointing=t.gradient_checkpointing or None, bf16=t.bf16 or None, load_in_4bit=cfg.model.load_in_4bit,
        trust_remote_code=cfg.model.trust_remote_code, report_to=[], msft=msft, logging_steps=max(1, arm.steps // 10),
    )


def _nll_records(cfg: RunConfig, run_dir: Path) -> list[dict[str, Any]]:
    e = cfg.experiment
    assert e is not None
    records = list(read_jsonl(run_dir / "stages" / "stage1" / "test.jsonl"))[: e.nll_items]
    if len(records) < 2:
        raise ValueError(f"the stage-I test split has {len(records)} item(s); the experiment needs at least 2")
    return records


def _score(cfg: RunConfig, run_dir: Path, folder: Path) -> dict[str, Any]:
    """Label NLL of the run in ``folder`` on the held-out items, written to ``folder/nll.json``."""
    from formulaforge.evaluation.nll import label_nll
    from formulaforge.evaluation.paired import per_token
    from formulaforge.models.inference import load_for_inference

    e = cfg.experiment
    assert e is not None
    records = _nll_records(cfg, run_dir)
    loaded = load_for_inference(cfg.model.name, stages=folder, trust_remote_code=cfg.model.trust_remote_code)
    t1 = cfg.train.stage1
    t0, c0 = time.perf_counter(), time.process_time()
    nll = label_nll(loaded.model, loaded.tokenizer, records, max_input=t1.max_input_tokens,
                    max_output=t1.max_output_tokens, batch_size=e.batch_size_eval)
    result = {"ids": [r["id"] for r in records], "nll": [n for n, _ in nll], "tokens": [k for _, k in nll],
              "per_token": per_token(nll), "wall_s": round(time.perf_counter() - t0, 2),
              "cpu_s": round(time.process_time() - c0, 2)}
    write_json_atomic(folder / "nll.json", result)
    return result


def _train_and_score(cfg: RunConfig, run_dir: Path, arm: Arm, seed: int, log: Log) -> dict[str, Any]:
    from formulaforge.training.recipe import train_stage

    out = arm_dir(run_dir, arm.name, seed if arm.name != "A" else None)
    t0, c0 = time.perf_counter(), time.process_time()
    result = train_stage(_settings(cfg, run_dir, arm, seed, out), progress=log)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    scored = _score(cfg, run_dir, out)
    steps = result["training"]["steps"]
    log(f"  {arm.name} (seed {seed}): {steps} steps in {train_wall:.0f} s ({train_cpu:.0f} CPU-s), "
        f"label NLL {scored['per_token']:.4f} nats/token")
    return {"steps": steps, "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
            "per_token": scored["per_token"]}


def _arm_step(arm: Arm, seed: int) -> Callable[[RunConfig, Path, Log], dict[str, Any]]:
    def step(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
        return _train_and_score(cfg, run_dir, arm, seed, log)

    return step


def _gen_step(arm: str, seed: int) -> Callable[[RunConfig, Path, Log], dict[str, Any]]:
    def step(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
        from formulaforge.evaluation.runner import EvalConfig, evaluate, write_eval
        from formulaforge.models.generation import SamplingConfig
        from formulaforge.models.inference import load_for_inference

        e = cfg.experiment
        assert e is not None
        records = list(read_jsonl(run_dir / "stages" / "stage1" / "test.jsonl"))[: e.gen_items]
        loaded = load_for_inference(cfg.model.name, stages=arm_dir(run_dir, arm, seed),
                                    trust_remote_code=cfg.model.trust_remote_code)
        sampling = SamplingConfig(greedy=True, max_new_tokens=e.gen_max_new_tokens, seed=seed,
                                  max_input=cfg.train.stage1.max_input_tokens)
        config = EvalConfig(runs=1, sampling=sampling, batch_size=e.batch_size_eval, render_metric=False,
                            gate="on")
        rows, metrics = evaluate(loaded.model, loaded.tokenizer, records, config, msft=loaded.msft)
        write_eval(run_dir / "exp" / "gen" / arm, rows, metrics)
        log(f"  generation {arm}: BLEU {metrics['bleu']['mean']:.2f}, CER {metrics['cer']['mean']:.3f} "
            f"on {len(records)} items")
        return {"n": len(records)}

    return step


def _report_step(cfg: RunConfig, run_dir: Path, log: Log) -> dict[str, Any]:
    from formulaforge.evaluation.report.experiment import write_experiment_report

    e = cfg.experiment
    assert e is not None
    names = [a.name for a in arms(cfg)]
    nll = {("A", None): load_nll(run_dir, "A", None)}
    nll.update({(a, s): load_nll(run_dir, a, s) for s in e.seeds for a in names})
    comparisons = list(COMPARISONS) + (list(RESIDUAL_COMPARISONS) if e.residual else [])
    gen = {}
    for arm in e.gen_arms:
        path = run_dir / "exp" / "gen" / arm / "metrics.json"
        if path.is_file():
            gen[arm] = json.loads(path.read_text(encoding="utf-8"))
    meta = {"model": cfg.model.name, "mode": cfg.msft.mode, "r1": cfg.msft.r1, "r2": cfg.msft.r2, "r3": cfg.msft.r3,
            "matched_r2": matched_rank(cfg), "steps": {"I": e.stage1_steps, "II": e.stage2_steps, "III": e.stage3_steps},
            "batch": {n: getattr(cfg.train, f"stage{n}").batch_size * getattr(cfg.train, f"stage{n}").grad_accum
                      for n in (1, 2, 3)},
            "first_seed": e.seeds[0], "gen_items": e.gen_items}
    files = write_experiment_report(run_dir / "report", nll, e.seeds, comparisons, gen, meta, n_boot=e.bootstrap)
    log(f"report: {files['markdown']}")
    return {"files": {k: str(v) for k, v in files.items()}}


def plan_experiment(cfg: RunConfig) -> list[Step]:
    """data -> stages -> A -> per seed the arms -> generation metrics -> report."""
    e = cfg.experiment
    assert e is not None
    train_sections = ("model", "msft", "train", "experiment")
    steps = [Step("data", ("data",), step_data), Step("stages", ("stages",), step_stages, ("data",)),
             Step("arm_A", train_sections, _arm_step(Arm("A", 1, e.stage1_steps, None, False, cfg.msft.mode),
                                                     cfg.train.stage1.seed), ("stages",), workdir="exp/A")]
    by_name = {a.name: a for a in arms(cfg)}
    names: list[str] = []
    for seed in e.seeds:
        for arm in arms(cfg):
            parent = "arm_A" if arm.parent == "A" else f"arm_{arm.parent}_s{seed}"
            name = f"arm_{arm.name}_s{seed}"
            steps.append(Step(name, train_sections, _arm_step(by_name[arm.name], seed), ("stages", parent),
                              workdir=f"exp/seed{seed}/{arm.name}"))
            names.append(name)
    first = e.seeds[0]
    gens = []
    for arm in e.gen_arms:
        src = "arm_A" if arm == "A" else f"arm_{arm}_s{first}"
        steps.append(Step(f"gen_{arm}", ("experiment",), _gen_step(arm, first), (src,), workdir=f"exp/gen/{arm}"))
        gens.append(f"gen_{arm}")
    steps.append(Step("report", ("experiment",), _report_step, ("arm_A", *names, *gens)))
    return steps


def load_nll(run_dir: Path, arm: str, seed: int | None) -> list[tuple[float, int]]:
    data = json.loads((arm_dir(run_dir, arm, seed) / "nll.json").read_text(encoding="utf-8"))
    return list(zip(data["nll"], data["tokens"], strict=True))
