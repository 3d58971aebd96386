"""Curriculum fine-tuning on verified synthetic math: the recipe behind ``formulaforge synth train``.

A curriculum is a list of *phases*. ``sequential`` makes one phase per task in ``order``
(addition -> roots -> derivatives -> integrals, as in paper 003); each phase warm-starts
from the previous phase's adapter (:attr:`TrainSettings.init_from`) and trains on its
own task only. ``mixed`` is a single phase on all tasks shuffled together, the control.
Every phase is one call of the shared MSFT recipe (:func:`train_stage`), so logging
(``log.jsonl``), adapter-only checkpoints, resuming and the run-folder format are the same
as ``formulaforge train``; the optimizer and LR schedule restart per phase (warm-up, cosine).

The adapter is a LoRA (MSFT stage I) by default; ``adapter.kind: msft`` with ``stage: 2``
or ``3`` inserts the D- (and Q-) plugins from the start and trains all of them in every
phase (the recipe's ``all_at_once`` setting; not the paper's TFS, which starts from a trained stage I).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from formulaforge.datasets.synthetic import sft
from formulaforge.models.msft.config import MSFTConfig
from formulaforge.utils.atomic import write_json_atomic
from formulaforge.utils.jsonl import write_jsonl

SCHEDULES = ("sequential", "mixed")
META_FILE = "curriculum.json"


@dataclass
class PhaseBudget:
    """What one phase may spend (the CPU budget is stated here, in the config)."""

    steps: int = 60
    max_examples: int = 600  # training examples per task in the phase (seeded sample)
    max_valid: int = 0  # validation examples per task for an end-of-phase valid loss (0: none)
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-3
    max_input_tokens: int = 96
    max_output_tokens: int = 48


@dataclass
class EvalSettings:
    n_per_task: int = 40
    max_new_tokens: int = 48
    batch_size: int = 16


@dataclass
class CurriculumConfig:
    name: str = "synth"
    model: str = "smollm2-135m"
    schedule: str = "sequential"
    order: list[str] = field(default_factory=lambda: ["addition", "roots", "derivatives", "integrals"])
    adapter: str = "lora"  # lora | msft
    msft_stage: int = 1  # msft: train stages 1..msft_stage together in every phase
    msft: MSFTConfig = field(default_factory=MSFTConfig)
    budget: PhaseBudget = field(default_factory=PhaseBudget)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-phase overrides of budget keys
    eval: EvalSettings = field(default_factory=EvalSettings)
    seed: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default)

    def validate(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not self.order or len(set(self.order)) != len(self.order):
            raise ValueError(f"order must list each task once, got {self.order}")
        if self.adapter not in ("lora", "msft"):
            raise ValueError(f"adapter must be 'lora' or 'msft', got {self.adapter!r}")
        if self.adapter == "lora" and self.msft_stage != 1:
            raise ValueError("adapter 'lora' is MSFT stage 1; use adapter: msft for msft_stage 2 or 3")
        if self.adapter == "msft" and self.msft_stage not in (2, 3):
            raise ValueError(f"adapter 'msft' needs msft_stage 2 (+ D-plugin) or 3 (+ Q-plugin), got {self.msft_stage}")
        names = {"mixed"} if self.schedule == "mixed" else set(self.order)
        unknown = sorted(set(self.phases) - names)
        if unknown:
            raise ValueError(f"'phases' names {unknown}, not phases of this curriculum ({sorted(names)})")
        known = {f.name for f in fields(PhaseBudget)}
        for name, over in self.phases.items():
            bad = sorted(set(over) - known)
            if bad:
                raise ValueError(f"phases.{name}: unknown budget key(s) {bad} (known: {sorted(known)})")
        for p in self.phase_plan():
            if p.budget.steps < 1 or p.budget.max_examples < 1 or p.budget.batch_size < 1:
                raise ValueError(f"phase {p.name}: steps, max_examples and batch_size must be >= 1")

    def phase_plan(self) -> list[Phase]:
        if self.schedule == "mixed":
            return [Phase("mixed", list(self.order), replace(self.budget, **self.phases.get("mixed", {})))]
        return [Phase(t, [t], replace(self.budget, **self.phases.get(t, {}))) for t in self.order]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurriculumConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown curriculum config key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        d = dict(data)
        d["msft"] = MSFTConfig.from_dict(d.get("msft") or {})
        for key, sub in (("budget", PhaseBudget), ("eval", EvalSettings)):
            raw = d.get(key) or {}
            bad = sorted(set(raw) - {f.name for f in fields(sub)})
            if bad:
                raise ValueError(f"{key}: unknown key(s) {bad}")
            d[key] = sub(**raw)
        d["phases"] = {str(k): dict(v or {}) for k, v in (d.get("phases") or {}).items()}
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> CurriculumConfig:
        from formulaforge.utils.config_text import load_yaml

        data = load_yaml(Path(path).read_text(encoding="utf-8"), str(path)) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Phase:
    name: str
    tasks: list[str]
    budget: PhaseBudget


def match_data(cfg: CurriculumConfig, data_dirs: list[Path]) -> dict[str, Path]:
    """Task -> ``synth generate`` folder; every task of the curriculum must have one."""
    found: dict[str, Path] = {}
    for d in data_dirs:
        task, folder = sft.read_task_dir(d)
        if task in found:
            raise ValueError(f"two data folders for task {task!r}: {found[task]} and {folder}")
        found[task] = folder
    missing = [t for t in cfg.order if t not in found]
    if missing:
        raise ValueError(f"no --data folder for task(s) {', '.join(missing)} (have: {', '.join(found) or 'none'})")
    return found


def fits(row: dict[str, Any], tokenizer: Any, budget: PhaseBudget) -> bool:
    """Whether an example survives the length budget *uncut*.

    The shared encoder truncates prompts from the left and labels from the right; for a
    boxed answer either cut teaches the wrong thing (a prompt without its chat header, an
    answer whose box never closes and that never emits EOS), so such examples are dropped
    rather than truncated. This biases a phase toward shorter problems: its counts are in
    ``curriculum.json`` (``dropped_too_long``).
    """
    from formulaforge.training.data import prompt_ids

    if len(prompt_ids(row["input"], tokenizer, max_input=1 << 30)) > budget.max_input_tokens:
        return False
    return len(tokenizer(row["label"], add_special_tokens=False)["input_ids"]) + 1 <= budget.max_output_tokens


def write_phase_data(phase: Phase, folders: dict[str, Path], stage: int, out: Path, seed: int,
                     tokenizer: Any = None) -> dict[str, int]:
    """``out/stage{stage}/{train,valid}.jsonl`` in the stage format :func:`train_stage` reads.

    With a ``tokenizer``, examples longer than the budget are dropped (see :func:`fits`)
    *before* sampling ``max_examples``, so a phase still gets its full count when it can.
    """
    b = phase.budget

    def take(task: str, split: str, limit: int) -> tuple[list[dict[str, Any]], int]:
        rows = [sft.to_sft(r) for r in sft.load_split(folders[task], split, None, seed=seed, required=split == "train")]
        kept = [r for r in rows if tokenizer is None or fits(r, tokenizer, b)]
        dropped = len(rows) - len(kept)
        if limit < len(kept):
            import random

            kept = random.Random(seed).sample(kept, limit)
        return kept, dropped

    train, valid, dropped = [], [], 0
    for t in phase.tasks:
        rows, d = take(t, "train", b.max_examples)
        train.append(rows)
        dropped += d
        if b.max_valid > 0:
            valid.append(take(t, "valid", b.max_valid)[0])
    train_rows = sft.mix(train, seed)
    if not train_rows:
        raise ValueError(f"phase {phase.name}: no training records (within the length budget) in "
                         f"{[str(folders[t]) for t in phase.tasks]}")
    write_jsonl(out / f"stage{stage}" / "train.jsonl", train_rows)
    valid_rows = sft.mix(valid, seed)
    if valid_rows:
        write_jsonl(out / f"stage{stage}" / "valid.jsonl", valid_rows)
    return {"train": len(train_rows), "valid": len(valid_rows), "dropped_too_long": dropped}


def run_curriculum(cfg: CurriculumConfig, data_dirs: list[Path], out: Path, *,
                   progress: Callable[[str], Any] = print,
                   train: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train every phase in order; a phase whose run folder is complete is skipped (re-running resumes)."""
    from formulaforge.models.loading import load_tokenizer
    from formulaforge.training.recipe import TrainSettings, same_settings_as_before, train_stage

    train = train or train_stage
    cfg.validate()
    folders = match_data(cfg, data_dirs)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = cfg.msft_stage
    old = json.loads((out / META_FILE).read_text(encoding="utf-8")) if (out / META_FILE).is_file() else {}
    old_data = {p["run"]: p.get("data") for p in old.get("phases", [])}
    meta: dict[str, Any] = {"config": cfg.to_dict(), "data": {t: str(p) for t, p in folders.items()}, "phases": []}
    tokenizer = load_tokenizer(cfg.model)  # to drop examples the length budget would cut
    previous: Path | None = None
    for i, phase in enumerate(cfg.phase_plan(), 1):
        tag = f"{i:02d}-{phase.name}"
        run_dir = out / "phases" / tag
        entry: dict[str, Any] = {"phase": i, "name": phase.name, "tasks": phase.tasks, "run": str(run_dir),
                                 "init_from": str(previous) if previous else None, "budget": asdict(phase.budget)}
        counts = write_phase_data(phase, folders, stage, out / "data" / tag, cfg.seed + i, tokenizer)
        b = phase.budget
        settings = TrainSettings(
            stage=stage, model=cfg.model, data=out / "data" / tag, out=run_dir,
            init_from=previous, all_at_once=stage > 1,
            max_steps=b.steps, batch_size=b.batch_size, grad_accum=b.grad_accum, lr=b.lr,
            max_input=b.max_input_tokens, max_output=b.max_output_tokens, seed=cfg.seed + i,
            logging_steps=max(1, min(10, b.steps // 5)), save_total_limit=1, report_to=[],
            msft=cfg.msft, on_changed="restart",  # a changed phase trains again, from scratch
        )
        if (run_dir / "msft.json").is_file() and same_settings_as_before(settings):
            progress(f"phase {tag}: already trained with these settings, skipping")
            entry.update(_summary(run_dir), data=old_data.get(str(run_dir)) or counts)
        else:
            entry["data"] = counts
            progress(f"phase {tag}: {counts['train']} examples of {', '.join(phase.tasks)} "
                     f"({counts['dropped_too_long']} too long for the budget, dropped), "
                     f"{phase.budget.steps} steps" + (f", from {previous.name}" if previous else ""))
            t0 = time.time()
            train(settings, progress=progress)
            entry.update(_summary(run_dir))
            entry["phase_wall_s"] = round(time.time() - t0, 1)
        meta["phases"].append(entry)
        previous = run_dir
        meta["final_run"] = str(run_dir)
        write_json_atomic(out / META_FILE, meta)
    return meta


def _summary(run_dir: Path) -> dict[str, Any]:
    m = json.loads((run_dir / "msft.json").read_text(encoding="utf-8"))
    t = m.get("training", {})
    metrics = m.get("metrics", {})
    return {"steps": t.get("steps"), "n_train": t.get("n_train"), "wall_s": t.get("wall_s"),
            "train_loss": metrics.get("train_loss"), "eval_loss": metrics.get("eval_loss"),
            "trained_stages": t.get("trained_stages")}


def final_run(run: str | Path) -> Path:
    """The adapter a curriculum ended with (``run`` may also be a plain MSFT run folder)."""
    run = Path(run)
    meta = run / META_FILE
    if meta.is_file():
        final = json.loads(meta.read_text(encoding="utf-8")).get("final_run")
        if not final:
            raise ValueError(f"{meta}: no phase has finished yet")
        return Path(final)
    if (run / "msft.json").is_file():
        return run
    raise FileNotFoundError(f"{run} is neither a 'synth train' folder ({META_FILE}) nor an MSFT run (msft.json)")


def run_config(run: str | Path) -> CurriculumConfig | None:
    """The config a ``synth train`` folder was trained with (None for a plain MSFT run)."""
    meta = Path(run) / META_FILE
    if not meta.is_file():
        return None
    return CurriculumConfig.from_dict(json.loads(meta.read_text(encoding="utf-8"))["config"])
