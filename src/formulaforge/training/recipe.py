"""Train one MSFT stage: the recipe behind ``formulaforge train``.

Every check that can fail (data files, stage order, base-model fingerprint, targets,
ranks) runs before the first optimizer step. Hyper-parameters default to the paper
(App. C): AdamW, lr 1e-4, cosine decay after a one-epoch warm-up, 10 / 10 / 20 epochs,
inputs <= 512 and labels <= 384 tokens.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.models.msft.config import MSFTConfig
from formulaforge.models.msft.io import read_meta

DEFAULT_EPOCHS = {1: 10.0, 2: 10.0, 3: 20.0}


@dataclass
class TrainSettings:
    stage: int
    model: str
    data: Path
    out: Path
    from_run: Path | None = None
    # Warm start: load every stage of this run and keep training the same stages (curriculum
    # phases, ``synth train``). Unlike ``from_run``, the run must already hold ``stage``.
    init_from: Path | None = None
    mode: str | None = None
    joint: bool = False
    from_scratch: bool = False
    # Insert stages 1..stage on the base model at once and train them all (the synth curriculum's
    # MSFT option: one phase trains LoRA and the plugins together; not a paper recipe).
    all_at_once: bool = False
    epochs: float | None = None
    # Training from scratch (TFS): epochs per stage set it trains on at once; the default step
    # count is the multi-stage run's (stage II's steps + stage III's steps).
    tfs_epochs: dict[int, float] | None = None
    max_steps: int = -1
    save_steps: int | None = None  # None: a checkpoint per epoch
    train_limit: int | None = None  # use only the first N training pairs (CPU budgets)
    valid_limit: int | None = None  # use only the first N validation pairs (0: no validation)
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    max_input: int = 512
    max_output: int = 384
    seed: int = 42
    load_in_4bit: bool = False
    gradient_checkpointing: bool | None = None  # None: on when a GPU is used
    bf16: bool | None = None  # None: on when the GPU supports it
    logging_steps: int = 10
    save_total_limit: int = 2
    trust_remote_code: bool = False
    report_to: list[str] | None = None  # None: tensorboard (+ wandb) when installed
    msft: MSFTConfig = field(default_factory=MSFTConfig)
    force: bool = False  # write into an ``out`` folder that holds something other than a run
    # Checkpoints made with other settings: "refuse" (one-line error) or "restart" (discard them).
    # ``restart=True`` discards them even when the settings match.
    on_changed: str = "refuse"
    restart: bool = False
    verbose: bool = False  # library logs and tqdm bars on the console instead of OUT/train.log

    @property
    def num_epochs(self) -> float:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.stage]


class PlanError(ValueError):
    """A training request that cannot work; raised before loading or training anything."""


def check_settings(settings: TrainSettings) -> None:
    """The checks on the numbers alone (no files, no model): run first, so a bad value is reported
    before the slower model and data checks."""
    s = settings
    if s.stage not in (1, 2, 3):
        raise PlanError(f"--stage must be 1, 2 or 3, got {s.stage}")
    if s.joint and s.from_scratch:
        raise PlanError("--joint and --from-scratch exclude each other")
    if s.batch_size < 1 or s.grad_accum < 1:
        raise PlanError("--batch-size and --grad-accum must be >= 1")
    if not (isinstance(s.lr, (int, float)) and math.isfinite(s.lr) and 0 <= s.lr <= 10):
        raise PlanError(f"--lr must be a finite number in [0, 10], got {s.lr!r}")
    if s.epochs is not None and not (math.isfinite(s.epochs) and 0 < s.epochs <= 100_000):
        raise PlanError(f"--epochs must be a finite number in (0, 100000], got {s.epochs!r}")


def plan(settings: TrainSettings) -> dict[str, Any]:
    """Validate the request and decide which stages exist and which train."""
    from formulaforge.models.msft.adapter import trainable_stages
    from formulaforge.training.data import stage_file

    s = settings
    check_settings(s)
    train_file = stage_file(s.data, s.stage, "train")
    if not train_file.is_file():
        raise PlanError(f"no training data for stage {s.stage}: expected {train_file}")
    prev_meta = None
    if s.init_from is not None:
        if s.from_run is not None:
            raise PlanError("--from adds a stage to a run; init_from continues one; give one of them")
        prev_meta = read_meta(s.init_from)
        existing = list(prev_meta["stages"])
        if existing != list(range(1, s.stage + 1)):
            raise PlanError(f"continuing stage {s.stage} needs a run with stages {list(range(1, s.stage + 1))}, "
                            f"{s.init_from} has {existing}")
        prev_cfg = MSFTConfig.from_dict(prev_meta["msft"])
        if s.mode is not None and s.mode != prev_cfg.mode:
            raise PlanError(f"{s.init_from} was trained in {prev_cfg.mode!r} mode; cannot continue in {s.mode!r}")
        s.msft = prev_cfg  # the adapter's shape is the run's
    elif s.all_at_once:
        if s.from_run is not None or s.from_scratch or s.joint:
            raise PlanError("all_at_once inserts every stage on the base model: no --from, --from-scratch or --joint")
        existing = []
    elif s.from_scratch and s.stage == 1:
        raise PlanError("--from-scratch inserts the plugins on a trained stage I: use --stage 2 (D) or 3 (D+Q)")
    elif s.stage == 1:
        if s.from_run is not None:
            raise PlanError("stage 1 starts from the base model; --from is for stages 2 and 3")
        existing = []
    else:
        if s.from_run is None:
            need = "stage II (D-plugin)" if s.stage == 3 else "stage I (LoRA)"
            raise PlanError(f"stage {s.stage} needs --from RUN_DIR with {need} trained")
        prev_meta = read_meta(s.from_run)
        existing = list(prev_meta["stages"])
        if s.from_scratch and existing != [1]:
            raise PlanError(f"--from-scratch inserts D (and Q) at once on a stage-I run; {s.from_run} has stages "
                            f"{existing}")
        if not s.from_scratch and existing != list(range(1, s.stage)):
            if s.stage == 3 and 2 not in existing:
                raise PlanError(f"stage III needs stage II, but {s.from_run} has only stages {existing}")
            raise PlanError(f"stage {s.stage} must start from a run with stages {list(range(1, s.stage))}, "
                            f"{s.from_run} has {existing}")
        prev_cfg = MSFTConfig.from_dict(prev_meta["msft"])
        if s.stage == 3 and not s.from_scratch and s.mode is not None and s.mode != prev_cfg.mode:
            raise PlanError(f"the D-plugin in {s.from_run} was trained in {prev_cfg.mode!r} mode; "
                            f"stage III cannot switch to {s.mode!r}")
        # ranks of trained stages come from the run; the new stage's from the settings
        keep = {"r1": prev_cfg.r1, "alpha": prev_cfg.alpha, "targets": prev_cfg.targets}
        if s.stage == 3 and not s.from_scratch:
            keep.update(r2=prev_cfg.r2, mode=prev_cfg.mode)
        merged = {**s.msft.to_dict(), **keep}
        s.msft = MSFTConfig.from_dict(merged)
    if s.mode is not None and s.msft.mode != s.mode:
        s.msft = MSFTConfig.from_dict({**s.msft.to_dict(), "mode": s.mode})
    stages = list(range(1, s.stage + 1))
    for n in data_stages(s):
        if n != s.stage and not stage_file(s.data, n, "train").is_file():
            raise PlanError(f"no training data for stage {n}: expected {stage_file(s.data, n, 'train')}")
    return {
        "existing": existing,
        "stages": stages,
        "trainable": list(range(1, s.stage + 1)) if s.all_at_once and s.init_from is None
        else list(trainable_stages(s.stage, joint=s.joint or s.all_at_once, from_scratch=s.from_scratch)),
        "previous": prev_meta,
    }


def data_stages(settings: TrainSettings) -> tuple[int, ...]:
    """The stage sets a run trains on: its own, or stage II's and III's at once for TFS.

    TFS trains both plugins in one stage, so it sees both plugins' data (formula -> formula
    and the computation-priority chains) mixed in one shuffled set: the same pairs the
    multi-stage run sees, which leaves the order of stages and the freezing as the only
    difference between the two.
    """
    return (2, 3) if settings.from_scratch else (settings.stage,)


SETTINGS_FILE = "train_settings.json"
# Settings that do not change the weights a run produces (where to write, how to log, how to load),
# and input paths, which enter by content instead (a moved data folder is the same data).
_NOT_SHAPING = {"out", "force", "on_changed", "restart", "verbose", "logging_steps", "save_total_limit",
                "report_to", "trust_remote_code", "gradient_checkpointing", "bf16", "data", "from_run",
                "init_from"}


def _file_digest(path: Path | None) -> str | None:
    import hashlib

    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolved_bf16(s: TrainSettings) -> bool:
    import torch

    return s.bf16 if s.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def shaping_settings(s: TrainSettings) -> dict[str, Any]:
    """Everything that shapes the checkpoints of a run, with inputs named by content, not path."""
    import os

    from formulaforge.models.msft.io import META_FILE
    from formulaforge.training.data import stage_file

    out: dict[str, Any] = {}
    for name in TrainSettings.__dataclass_fields__:
        if name in _NOT_SHAPING:
            continue
        value = getattr(s, name)
        out[name] = value.to_dict() if isinstance(value, MSFTConfig) else str(value) if isinstance(value, Path) else value
    out["epochs"] = s.num_epochs
    out["bf16"] = resolved_bf16(s)
    out["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    out["data_sha256"] = {f"stage{n}/{split}": _file_digest(stage_file(s.data, n, split))
                          for n in data_stages(s) for split in ("train", "valid")}
    for name in ("from_run", "init_from"):
        run = getattr(s, name)
        out[f"{name}_sha256"] = _file_digest(Path(run) / META_FILE) if run is not None else None
    return out


def settings_hash(settings: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" if not k.endswith("sha256") else f"{k} changed"
                     for k in keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")


def same_settings_as_before(s: TrainSettings) -> bool:
    """True when ``s.out`` holds a run trained with exactly these settings (as :func:`plan` completes them)."""
    import copy

    path = Path(s.out) / SETTINGS_FILE
    try:
        planned = copy.deepcopy(s)
        plan(planned)  # completes the MSFT config from the previous run, as train_stage does
        return json.loads(path.read_text(encoding="utf-8")).get("hash") == settings_hash(shaping_settings(planned))
    except (OSError, ValueError):
        return False


def reconcile_checkpoints(s: TrainSettings, shaping: dict[str, Any], progress: Any = print) -> None:
    """Keep the run folder's checkpoints only when they were made with exactly these settings.

    A mismatch (or checkpoints of unknown settings, from an older version) is refused with one
    line, or, with ``restart`` / ``on_changed="restart"``, the checkpoints and the finished
    run's metadata are removed so training starts fresh. Writes the settings file for this run.
    """
    import shutil

    from formulaforge.models.msft.io import META_FILE
    from formulaforge.utils.atomic import write_json_atomic

    out = Path(s.out)
    ckpt = out / "checkpoints"
    has_state = ckpt.is_dir() or (out / META_FILE).is_file()
    new_hash = settings_hash(shaping)
    old: dict[str, Any] | None = None
    if (out / SETTINGS_FILE).is_file():
        try:
            old = json.loads((out / SETTINGS_FILE).read_text(encoding="utf-8"))
        except ValueError:
            old = None
    same = old is not None and old.get("hash") == new_hash
    if has_state and (s.restart or not same):
        if not s.restart and s.on_changed != "restart":
            why = (f"were made with other settings ({_changed_keys(old.get('settings', {}), shaping)})"
                   if old is not None else "were made by an older version, with unrecorded settings")
            raise PlanError(f"{out}: its checkpoints {why}; pass --restart to discard them and train from "
                            "scratch, or choose a new --out")
        progress(f"discarding the checkpoints in {out} ({'--restart' if s.restart else 'settings changed'})")
        shutil.rmtree(ckpt, ignore_errors=True)
        for name in (META_FILE, "log.jsonl"):
            (out / name).unlink(missing_ok=True)
    write_json_atomic(out / SETTINGS_FILE, {"hash": new_hash, "settings": shaping})


def _report_to(settings: TrainSettings) -> list[str]:
    if settings.report_to is not None:
        return settings.report_to
    import importlib.util

    out = []
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        out.append("tensorboard")
    if importlib.util.find_spec("wandb"):
        out.append("wandb")
    return out


SHORT_RUN_STEPS = 200
"""Runs up to this many optimizer steps log the loss at every step (a curve, not 2 points)."""


def train_stage(settings: TrainSettings, progress: Any = print) -> dict[str, Any]:
    """Run one stage end to end and write ``settings.out`` (see :mod:`formulaforge.models.msft.io`).

    The console gets one rich bar (steps, loss, ETA); library logging goes to
    ``OUT/train.log`` unless ``settings.verbose``."""
    from formulaforge.models.msft.io import RUN_KIND
    from formulaforge.utils.atomic import check_output
    from formulaforge.utils.quiet import VERBOSE, library_output

    settings.verbose = settings.verbose or VERBOSE.get()
    out = Path(settings.out)
    # A folder that holds something else is refused before even the log file goes into it; one
    # that passes (absent, empty, a run, --force) is ours, though the log lands before the marker.
    check_output(out, RUN_KIND, force=settings.force)
    created = not out.exists()
    was_empty = created or not any(out.iterdir())
    try:
        with library_output(out / "train.log", verbose=settings.verbose):
            return _train_stage(settings, progress)
    except BaseException:
        # A request refused before training leaves no folder behind (the log made it) and an
        # empty folder empty; a failure after checkpoints exist keeps everything, so a re-run resumes.
        if was_empty and out.is_dir() and {p.name for p in out.iterdir()} <= {"train.log"}:
            (out / "train.log").unlink(missing_ok=True)
            if created:
                out.rmdir()
        raise


def _train_stage(settings: TrainSettings, progress: Any) -> dict[str, Any]:
    import os

    import torch
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from formulaforge.models.loading import load_model, load_tokenizer, resolve_model
    from formulaforge.models.msft.adapter import MSFTAdapter
    from formulaforge.models.msft.io import RUN_KIND, check_base, load_run, save_run
    from formulaforge.training.data import EncodedDataset, PadCollator, load_split
    from formulaforge.training.trainer import AdapterOnlyTrainer
    from formulaforge.utils.atomic import claim_output

    s = settings
    p = plan(s)
    # The folder was checked by train_stage before anything (even train.log) was written; the
    # marker is written only once all checks pass.
    set_seed(s.seed)
    src = resolve_model(s.model)
    base_name = src.describe()
    per_stage = {n: load_split(s.data, n, "train") for n in data_stages(s)}
    if s.train_limit:
        per_stage = {n: r[: s.train_limit] for n, r in per_stage.items()}
    train_records = [r for n in data_stages(s) for r in per_stage[n]]
    valid_records = [r for n in data_stages(s) for r in load_split(s.data, n, "valid", required=False)]
    if s.valid_limit is not None:
        valid_records = valid_records[: s.valid_limit]

    cuda = torch.cuda.is_available()
    model = load_model(src, load_in_4bit=s.load_in_4bit, trust_remote_code=s.trust_remote_code)
    tokenizer = load_tokenizer(src, trust_remote_code=s.trust_remote_code)
    if p["previous"] is not None:
        prev_run = s.init_from if s.init_from is not None else s.from_run
        check_base(p["previous"], model, prev_run)  # type: ignore[arg-type]
        adapter = load_run(model, prev_run, config=s.msft)  # type: ignore[arg-type]
        for stage in p["stages"]:
            if stage not in adapter.stages:
                adapter.add_stage(stage)
    else:
        adapter = MSFTAdapter.inject(model, s.msft, p["stages"])
    n_trainable = adapter.set_trainable(p["trainable"])
    if s.verbose:
        progress(adapter.format_report())

    train_ds = EncodedDataset(train_records, tokenizer, s.max_input, s.max_output)
    valid_ds = EncodedDataset(valid_records, tokenizer, s.max_input, s.max_output) if valid_records else None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps_per_epoch = max(1, math.ceil(len(train_ds) / (s.batch_size * s.grad_accum * world)))
    total = s.max_steps if s.max_steps > 0 else math.ceil(steps_per_epoch * s.num_epochs)
    if s.from_scratch and s.max_steps <= 0 and s.epochs is None:
        epochs = s.tfs_epochs or DEFAULT_EPOCHS
        total = sum(math.ceil(len(r) / (s.batch_size * s.grad_accum * world)) * epochs[n] for n, r in per_stage.items())
        total = math.ceil(total)
        s.max_steps = total
    # Paper: one epoch of warm-up. A --max-steps smoke run shorter than ~10 epochs keeps 10 %.
    warmup = min(steps_per_epoch, max(1, math.ceil(0.1 * total)))
    bf16 = resolved_bf16(s)
    grad_ckpt = s.gradient_checkpointing if s.gradient_checkpointing is not None else cuda
    claim_output(s.out, RUN_KIND, force=True)  # checked in train_stage; train.log may already be there
    reconcile_checkpoints(s, shaping_settings(s), progress)
    ckpt_dir = s.out / "checkpoints"
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(s.out / "logs"))  # transformers 5: no logging_dir arg
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=s.num_epochs,
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        learning_rate=s.lr,
        weight_decay=s.weight_decay,
        optim="adamw_torch",
        lr_scheduler_type="cosine",
        warmup_steps=warmup,
        logging_steps=1 if total <= SHORT_RUN_STEPS else s.logging_steps,
        save_strategy="steps",
        save_steps=s.save_steps or steps_per_epoch,
        save_total_limit=s.save_total_limit,
        eval_strategy="steps" if valid_ds is not None else "no",
        eval_steps=steps_per_epoch if valid_ds is not None else None,
        bf16=bf16,
        **_checkpointing_args(TrainingArguments, grad_ckpt),
        remove_unused_columns=False,
        report_to=_report_to(s),
        seed=s.seed,
        use_cpu=not cuda,
        disable_tqdm=not s.verbose,
    )
    trainer = AdapterOnlyTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        data_collator=PadCollator(tokenizer.pad_token_id),
    )
    if not s.verbose:  # one rich bar instead of printed log dicts
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        from formulaforge.training.progress import RichBarCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(RichBarCallback(f"stage {s.stage}"))
    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    started = time.time()
    done = trainer.finished_checkpoint(last, total)
    if done is not None:
        progress(f"training already complete at {last}; loading its weights")
        global_step, metrics = done
    else:
        if last:
            progress(f"resuming from {last}")
        result = trainer.train(resume_from_checkpoint=last)
        global_step, metrics = result.global_step, trainer.whole_run_metrics(dict(result.metrics))
    if valid_ds is not None:
        # The Trainer may have evaluated at the last step already (eval_steps divides it):
        # reuse that instead of a second pass over the validation set.
        final = [r for r in trainer.state.log_history
                 if "eval_loss" in r and r.get("step") == global_step]
        metrics.update({k: v for k, v in final[-1].items() if k.startswith("eval_")} if final
                       else trainer.evaluate())
    model.eval()
    training = {
        "stage": s.stage,
        "trained_stages": p["trainable"],
        "joint": s.joint,
        "from_scratch": s.from_scratch,
        "data_stages": list(data_stages(s)),
        "weight_decay": s.weight_decay,
        "dropout": s.msft.dropout,
        "from": str(s.from_run) if s.from_run else None,
        "init_from": str(s.init_from) if s.init_from else None,
        "epochs": s.num_epochs,
        "max_steps": s.max_steps,
        "steps": global_step,
        "steps_per_epoch": steps_per_epoch,
        "warmup_steps": warmup,
        "batch_size": s.batch_size,
        "grad_accum": s.grad_accum,
        "lr": s.lr,
        "max_input": s.max_input,
        "max_output": s.max_output,
        "bf16": bf16,
        "gradient_checkpointing": grad_ckpt,
        "load_in_4bit": s.load_in_4bit,
        "seed": s.seed,
        "n_train": len(train_ds),
        "n_valid": len(valid_ds) if valid_ds is not None else 0,
        "trainable_params": n_trainable,
        "wall_s": round(time.time() - started, 2),
    }
    from formulaforge.utils.jsonl import write_jsonl

    write_jsonl(Path(s.out) / "log.jsonl", [_jsonable(dict(r)) for r in trainer.state.log_history])
    report = [asdict(r) | {"new_pct": r.new_pct, "cumulative_pct": r.cumulative_pct} for r in adapter.param_report()]
    save_run(s.out, adapter, base_name, extra={"training": training, "metrics": _jsonable(metrics), "params": report})
    return {"training": training, "metrics": metrics, "params": report}


def _checkpointing_args(args_cls: Any, enabled: bool) -> dict[str, Any]:
    """transformers 5.x renamed gradient_checkpointing to activation_checkpointing."""
    name = "activation_checkpointing" if "activation_checkpointing" in args_cls.__dataclass_fields__ else (
        "gradient_checkpointing"
    )
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False} if enabled else None}


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=float))
