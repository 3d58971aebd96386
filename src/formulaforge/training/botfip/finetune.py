"""Botfip-LLM fine-tuning: function image -> OTS (L_OM, eq. 4) or formula string -> OTS (L_SOM, eq. 8).

Starts from a pre-training run directory; the OTS decoder begins from the shared
encoder/decoder weights. Trains on the separate fine-tuning set (generated once next to
the pre-training set, :func:`prepare_finetune_dataset`), not on the pre-training
samples. For ``formula`` the frozen teacher's states (cached) pass through the
pre-trained embedder into the decoder's cross-attention.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from formulaforge.models.botfip.checkpoint import load_model, save_model
from formulaforge.training.botfip.common import LossLog, optimizer_for, plot_losses, setup_runtime
from formulaforge.training.botfip.data import (
    DEFAULT_CACHE,
    TeacherFeatures,
    build_teacher,
    model_batch,
    prepare_finetune_dataset,
)
from formulaforge.utils.atomic import write_json_atomic

TASKS = ("funcimg", "formula")


def finetune(from_dir: str | Path, out_dir: str | Path, task: str, *, cache_dir: str | Path | None = DEFAULT_CACHE,
             epochs: int | None = None, progress: Any = None) -> dict[str, Any]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    model, cfg, meta = load_model(from_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup_runtime(cfg.train.threads, cfg.train.seed + 17)
    data = meta.get("data") or {}
    if "train" not in data or "val" not in data:
        raise ValueError(f"{from_dir} does not name its datasets (not a pre-training run?)")
    train_ds = prepare_finetune_dataset(cfg, data["train"], data["val"])
    data = {**data, "finetune": str(train_ds.path), "finetune_samples": len(train_ds)}
    teacher = build_teacher(cfg.model) if task == "formula" or cfg.model.teacher != "none" else None
    features = TeacherFeatures(teacher, cache_dir) if teacher is not None else None
    if task == "formula" and features is None:
        raise ValueError("the formula -> OTS task needs a teacher; this run was pre-trained with model.teacher=none")
    if features is not None and task == "formula":
        features.warm([s["formula"] for s in train_ds.skeletons])
    tc = cfg.train
    n_epochs = epochs if epochs is not None else tc.finetune_epochs
    steps_per_epoch = -(-len(train_ds) // tc.batch_size)
    opt, sched = optimizer_for(model, tc, tc.finetune_lr, steps_per_epoch)
    log = LossLog(out / "losses.jsonl")
    specials = model.specials
    bar = progress.add_task(f"finetune {task}", total=n_epochs * steps_per_epoch) if progress is not None else None
    step, samples, t0 = 0, 0, time.perf_counter()
    model.train()
    for epoch in range(n_epochs):
        for raw in train_ds.iter_batches(tc.batch_size, seed=cfg.train.seed * 10_000 + 1000 + epoch,
                                         noise_std=cfg.data.noise_std, pad_id=specials.pad):
            batch = model_batch(raw, specials, features if task == "formula" else None, cfg.model.max_consts)
            loss = model.finetune_loss(batch, task)
            samples += batch.images.shape[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0, foreach=True)
            opt.step()
            sched.step()
            step += 1
            log.add(step, epoch, {"loss": float(loss.detach())})
            if progress is not None:
                progress.update(bar, advance=1, description=f"finetune {task} loss {float(loss.detach()):.3f}")
    log.close()
    plot_losses(log.rows, ["loss"], out / "loss_curves.png")
    tail = log.rows[-max(1, min(20, len(log.rows))):]
    summary = {"task": task, "from": str(from_dir), "epochs": n_epochs, "steps": step, "samples": samples,
               "data": str(train_ds.path),
               "seconds": round(time.perf_counter() - t0, 2),
               "final_loss": round(sum(r["loss"] for r in tail) / len(tail), 4)}
    save_model(model, cfg, out, {"stage": "finetune", "task": task, "data": data, "pretrain": str(from_dir)})
    write_json_atomic(out / "summary.json", summary)
    return summary
