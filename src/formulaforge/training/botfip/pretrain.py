"""Botfip-LLM pre-training (paper Algorithm 1): L_pre = l1 FOC + l2 FOM + l3 OM + l4 KD.

Teacher features of every distinct formula string are computed before the first step
and read from the on-disk cache afterwards, so the frozen LLM never runs inside the
loop. Under ``torch.distributed`` each rank trains on its own shard of the batches
(gradients averaged); with ``train.teacher_placement: rank`` only one rank holds the
teacher and serves the others' features (paper Fig. 3, :mod:`.distributed`). Writes a run directory: ``model.safetensors``, ``config.json``, ``losses.jsonl``,
``loss_curves.png``, ``similarity.json`` + ``similarity.png`` (Fig. 5 matrices for 50 validation samples,
before and after), ``summary.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from formulaforge.models.botfip.checkpoint import save_model
from formulaforge.models.botfip.config import BotfipConfig
from formulaforge.models.botfip.device import autocast, resolve_device
from formulaforge.models.botfip.model import BotfipLLM
from formulaforge.training.botfip.common import (
    LossLog,
    optimizer_for,
    plot_losses,
    plot_similarity,
    setup_runtime,
)
from formulaforge.training.botfip.data import (
    DEFAULT_CACHE,
    TeacherFeatures,
    build_teacher,
    model_batch,
    prepare_datasets,
)
from formulaforge.training.botfip.distributed import (
    RankTeacherFeatures,
    barrier,
    dist_info,
    shard,
    wrap_ddp,
)
from formulaforge.utils.atomic import write_json_atomic

LOSS_KEYS = ["foc", "fom", "om", "kd"]


@torch.no_grad()
def similarity_matrices(model: BotfipLLM, batch: Any) -> dict[str, Any]:
    """Cosine similarity between image / OTS / teacher features of the same samples (Fig. 5)."""
    model.eval()
    feats = model.features(batch)
    out: dict[str, Any] = {}
    pairs = [("image", "ots"), ("image", "teacher"), ("ots", "teacher")]
    for a, b in pairs:
        if a in feats and b in feats:
            sim = feats[a] @ feats[b].t()
            same = batch.skeleton_ids[:, None] == batch.skeleton_ids[None, :]
            out[f"{a}_{b}"] = {
                "matrix": [[round(float(x), 4) for x in row] for row in sim],
                # alignment gap: matched pairs vs pairs from other skeletons
                "diag_mean": float(sim.diag().mean()),
                "other_skeleton_mean": float(sim[~same].mean()) if (~same).any() else float("nan"),
            }
    return out


StepHook = Callable[[int, Any, Any, dict[str, torch.Tensor], BotfipLLM], None]


def _features(cfg: BotfipConfig, cache_dir: str | Path | None, use_cache: bool, device: torch.device):
    """(teacher or None, features or None) for this process, honouring ``train.teacher_placement``."""
    info = dist_info()
    on_rank = cfg.train.teacher_placement == "rank" and info.active
    if cfg.model.teacher in ("", "none"):
        return None, None
    teacher = None
    if not on_rank or info.rank == cfg.train.teacher_rank:
        teacher = build_teacher(cfg.model, device=cfg.model.teacher_device or device)
    local = TeacherFeatures(teacher, cache_dir, cache=use_cache) if teacher is not None else None
    if on_rank:
        return teacher, RankTeacherFeatures(local, cfg.train.teacher_rank)
    return teacher, local


def pretrain(cfg: BotfipConfig, out_dir: str | Path, *, cache_dir: str | Path | None = DEFAULT_CACHE,
             data_dir: str | Path | None = None, use_cache: bool = True, progress: Any = None,
             max_steps: int | None = None, on_step: StepHook | None = None) -> dict[str, Any]:
    """Pre-train and save; returns the summary (throughput, final losses, similarity gaps).

    ``on_step(step, raw_batch, model_batch, losses, model)`` is called after every optimizer step.
    Under ``torch.distributed`` only rank 0 writes the run directory; the student is wrapped in
    ``DistributedDataParallel`` on this rank's device (``train.device``; CUDA ranks use ``cuda:$LOCAL_RANK``).
    """
    cfg.check_runtime()
    info = dist_info()
    device = resolve_device(cfg.train.device)
    out = Path(out_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    setup_runtime(cfg.train.threads, cfg.train.seed)  # same seed on every rank: identical initial students
    if info.is_main:  # one writer generates the data; the others open it
        train_ds, val_ds = prepare_datasets(cfg, data_dir or out / "data")
    barrier()
    if not info.is_main:
        train_ds, val_ds = prepare_datasets(cfg, data_dir or out / "data")
    teacher, features = _features(cfg, cache_dir, use_cache, device)
    t_warm = time.perf_counter()
    if features is not None and use_cache:
        features.warm([s["formula"] for s in train_ds.skeletons + val_ds.skeletons])
    t_warm = time.perf_counter() - t_warm
    model = BotfipLLM(cfg.model, cfg.loss, features.dim if features else None).to(device)
    specials = model.specials
    kw = {"pad_id": specials.pad}
    n_sim = min(50, len(val_ds))
    sim_batch = model_batch(val_ds.batch(list(range(n_sim)), **kw), specials, features,
                            cfg.model.max_consts).to(device)
    similarity = {"before": similarity_matrices(model, sim_batch)}
    engine = wrap_ddp(model, device)  # the model itself on one process

    tc = cfg.train
    n_batches = -(-len(train_ds) // tc.batch_size)
    steps_per_epoch = max(1, n_batches // info.world)
    opt, sched = optimizer_for(model, tc, tc.lr, steps_per_epoch)
    limit = max_steps if max_steps is not None else (tc.max_steps or tc.epochs * steps_per_epoch)
    log = LossLog(out / "losses.jsonl" if info.is_main else None)
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator(device=device).manual_seed(cfg.train.seed)
    step, samples, t_train = 0, 0, 0.0
    task = progress.add_task("pretrain", total=limit) if progress is not None else None
    engine.train()
    for epoch in range(tc.epochs):
        batches = train_ds.iter_batches(tc.batch_size, seed=tc.seed * 10_000 + epoch, noise_std=cfg.data.noise_std,
                                        **kw)
        for raw in shard(batches, n_batches, info):
            t0, c0 = time.perf_counter(), time.process_time()
            batch = model_batch(raw, specials, features, cfg.model.max_consts).to(device)
            with autocast(device, tc.bf16):
                losses = engine(batch, gen)  # DDP averages the gradients during backward
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0, foreach=True)
            opt.step()
            sched.step()
            model.momentum_update()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            t_train += dt
            samples += batch.images.shape[0]
            step += 1
            log.add(step, epoch, {k: float(v.detach()) for k, v in losses.items()}
                    | {"lr": sched.get_last_lr()[0], "seconds": dt, "cpu_seconds": cpu, "samples": batch.images.shape[0]})
            if on_step is not None:
                on_step(step, raw, batch, losses, model)
            if progress is not None:
                progress.update(task, advance=1, description=f"pretrain loss {float(losses['total'].detach()):.3f}")
            if step >= limit:
                break
        if step >= limit:
            break
    log.close()
    similarity["after"] = similarity_matrices(model, sim_batch)
    tail = log.rows[-max(1, min(20, len(log.rows))):]
    summary = {
        "steps": step, "samples": samples, "train_seconds": round(t_train, 2),
        "samples_per_second": round(samples / t_train, 2) if t_train else None,
        "teacher_warmup_seconds": round(t_warm, 2), "teacher_cache": use_cache,
        "teacher": cfg.model.teacher, "teacher_fingerprint": _fingerprint(features),
        "teacher_calls": teacher.calls if teacher else 0,
        "distributed": {"world": info.world, "rank": info.rank, "teacher_placement": tc.teacher_placement,
                        "teacher_rank": tc.teacher_rank},
        "device": str(device), "bf16_autocast": bool(tc.bf16 and device.type == "cuda"),
        **({"max_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
           if device.type == "cuda" else {}),
        "final_losses": {k: round(sum(r[k] for r in tail) / len(tail), 4) for k in LOSS_KEYS + ["total"]},
        "alignment_gap": {
            phase: {k: round(v["diag_mean"] - v["other_skeleton_mean"], 4) for k, v in similarity[phase].items()}
            for phase in ("before", "after")},
        "data": {"train": str(train_ds.path), "val": str(val_ds.path), "train_samples": len(train_ds),
                 "val_samples": len(val_ds)},
    }
    if info.is_main:
        write_json_atomic(out / "similarity.json", similarity)
        plot_similarity(similarity, out / "similarity.png")
        plot_losses(log.rows, LOSS_KEYS, out / "loss_curves.png")
        save_model(model, cfg, out, {"stage": "pretrain", "data": summary["data"]})
        write_json_atomic(out / "summary.json", summary)
    barrier()
    return summary


def _fingerprint(features: Any) -> str | None:
    if features is None:
        return None
    return features.fingerprint if isinstance(features, RankTeacherFeatures) else features.cache.fingerprint
