"""Botfip-LLM fine-tuning: function image -> OTS (L_OM, eq. 4) or formula string -> OTS (L_SOM, eq. 8).

Starts from a pre-training run directory; the OTS decoder begins from the shared
encoder/decoder weights. Trains on the separate fine-tuning set (generated once next to
the pre-training set, :func:`prepare_finetune_dataset`), not on the pre-training
samples. For ``formula`` the frozen teacher's states (cached) pass through the
pre-trained embedder into the decoder's cross-attention.

The paper's protocol (Sec. 4.2.1, Table 3) is one run per node count (5-9) for 25,000
steps: ``train.finetune_nodes: [5]`` with ``train.finetune_steps: 25000`` (or ``--nodes 5
--steps 25000``). ``train.freeze_image_encoder`` decides whether the image encoder is
trained too (off by default: it is; the paper does not say).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from formulaforge.models.botfip.checkpoint import load_model, save_model
from formulaforge.models.botfip.device import autocast, resolve_device
from formulaforge.training.botfip.common import LossLog, optimizer_for, plot_losses, setup_runtime
from formulaforge.training.botfip.data import (
    DEFAULT_CACHE,
    TeacherFeatures,
    build_teacher,
    indices_with_nodes,
    iter_index_batches,
    model_batch,
    prepare_finetune_dataset,
)
from formulaforge.utils.atomic import write_json_atomic

TASKS = ("funcimg", "formula")


def finetune(from_dir: str | Path, out_dir: str | Path, task: str, *, cache_dir: str | Path | None = DEFAULT_CACHE,
             epochs: int | None = None, steps: int | None = None, nodes: list[int] | None = None,
             freeze_image_encoder: bool | None = None, device: str | None = None,
             progress: Any = None) -> dict[str, Any]:
    """Fine-tune ``from_dir`` for ``task`` into ``out_dir``; returns the summary.

    ``steps`` / ``nodes`` / ``freeze_image_encoder`` / ``device`` override ``train.finetune_steps`` /
    ``train.finetune_nodes`` / ``train.freeze_image_encoder`` / ``train.device`` (and are saved with the run).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    model, cfg, meta = load_model(from_dir, "cpu")  # moved to train.device below
    if meta.get("stage") == "finetune" and meta.get("task") not in (None, task):
        raise ValueError(f"{from_dir} was fine-tuned for {meta.get('task')}; fine-tune from its pre-training run "
                         f"{meta.get('pretrain')} for {task}")
    tc = cfg.train
    if steps is not None:
        tc.finetune_steps = steps
    if nodes is not None:
        tc.finetune_nodes = list(nodes)
    if freeze_image_encoder is not None:
        tc.freeze_image_encoder = freeze_image_encoder
    if device is not None:
        tc.device = device
    dev = resolve_device(tc.device)
    model.to(dev)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup_runtime(tc.threads, tc.seed + 17)
    data = meta.get("data") or {}
    if "train" not in data or "val" not in data:
        raise ValueError(f"{from_dir} does not name its datasets (not a pre-training run?)")
    train_ds = prepare_finetune_dataset(cfg, data["train"], data["val"])
    indices = indices_with_nodes(train_ds, tc.finetune_nodes)
    if indices.size == 0:
        raise ValueError(f"the fine-tuning set has no sample with {tc.finetune_nodes} nodes "
                         f"(it spans {cfg.data.min_nodes}-{cfg.data.max_nodes})")
    data = {**data, "finetune": str(train_ds.path), "finetune_samples": int(indices.size)}
    teacher = build_teacher(cfg.model, device=cfg.model.teacher_device or dev) if task == "formula" else None
    features = TeacherFeatures(teacher, cache_dir) if teacher is not None else None
    if task == "formula" and features is None:
        raise ValueError("the formula -> OTS task needs a teacher; this run was pre-trained with model.teacher=none")
    if features is not None:
        features.warm([s["formula"] for s in train_ds.skeletons])
    if tc.freeze_image_encoder:
        model.image_encoder.requires_grad_(False)
    steps_per_epoch = -(-int(indices.size) // tc.batch_size)
    limit = tc.finetune_steps or (epochs if epochs is not None else tc.finetune_epochs) * steps_per_epoch
    opt, sched = optimizer_for(model, tc, tc.finetune_lr, steps_per_epoch)
    log = LossLog(out / "losses.jsonl")
    specials = model.specials
    bar = progress.add_task(f"finetune {task}", total=limit) if progress is not None else None
    step, samples, epoch, t0 = 0, 0, 0, time.perf_counter()
    model.train()
    if tc.freeze_image_encoder:
        model.image_encoder.eval()
    trained = [p for p in model.parameters() if p.requires_grad]
    while step < limit:
        rng = np.random.default_rng(tc.seed * 10_000 + 1000 + epoch)
        for raw in iter_index_batches(train_ds, indices, tc.batch_size, rng, noise_std=cfg.data.noise_std,
                                      pad_id=specials.pad):
            batch = model_batch(raw, specials, features if task == "formula" else None,
                                cfg.model.max_consts).to(dev)
            with autocast(dev, tc.bf16):
                loss = model.finetune_loss(batch, task)
            samples += batch.images.shape[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 5.0, foreach=True)
            opt.step()
            sched.step()
            step += 1
            log.add(step, epoch, {"loss": float(loss.detach())})
            if progress is not None:
                progress.update(bar, advance=1, description=f"finetune {task} loss {float(loss.detach()):.3f}")
            if step >= limit:
                break
        epoch += 1
    log.close()
    model.image_encoder.requires_grad_(True)
    plot_losses(log.rows, ["loss"], out / "loss_curves.png")
    tail = log.rows[-max(1, min(20, len(log.rows))):]
    summary = {"task": task, "from": str(from_dir), "epochs": epoch, "steps": step, "samples": samples,
               "data": str(train_ds.path), "nodes": tc.finetune_nodes or "all",
               "image_encoder": "frozen" if tc.freeze_image_encoder else "trained",
               "device": str(dev), "seconds": round(time.perf_counter() - t0, 2),
               "final_loss": round(sum(r["loss"] for r in tail) / len(tail), 4)}
    save_model(model, cfg, out, {"stage": "finetune", "task": task, "data": data, "pretrain": str(from_dir)})
    write_json_atomic(out / "summary.json", summary)
    return summary
