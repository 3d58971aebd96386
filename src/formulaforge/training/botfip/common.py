"""Shared pieces of the Botfip training loops: threads/seeds, LR schedule, loss log, plots."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from formulaforge.models.botfip.config import TrainConfig


def setup_runtime(threads: int, seed: int) -> None:
    """Seed everything; pin torch threads (small models run faster single-threaded on busy CPUs)."""
    if threads > 0:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int, lr: float):
    """Linear warm-up from ``warmup_lr`` to ``lr``, then StepLR (``gamma`` every N epochs), as Table A.5."""
    start = cfg.warmup_lr / lr if lr > 0 else 1.0

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return start + (1.0 - start) * step / max(1, cfg.warmup_steps)
        epoch = step // max(1, steps_per_epoch)
        return cfg.step_lr_gamma ** (epoch // max(1, cfg.step_lr_every_epochs))

    return f


def optimizer_for(model: torch.nn.Module, cfg: TrainConfig, lr: float, steps_per_epoch: int
                  ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            # biases, norms and the temperatures are never decayed (decay would pull the
            # temperatures to 0 and blow up the InfoNCE logits)
            (decay if p.ndim >= 2 else no_decay).append(p)
    # one multi-tensor update instead of ~10 small ops per parameter: with tiny models
    # the per-op overhead of the default single-tensor loop on CPU is a visible slice of a step
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, foreach=True)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, steps_per_epoch, lr))


class LossLog:
    """Per-step losses appended to ``losses.jsonl`` (the paper's Fig. 4/6 curves come from it)."""

    def __init__(self, path: Path | None) -> None:
        """``path=None`` keeps the rows in memory only (ranks other than 0 of a distributed run)."""
        self.path = path
        self.rows: list[dict[str, float]] = []
        self._fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("w", encoding="utf-8")

    def add(self, step: int, epoch: int, values: dict[str, float]) -> None:
        row = {"step": step, "epoch": epoch, **{k: round(float(v), 6) for k, v in values.items()}}
        self.rows.append(row)
        if self._fh is not None:
            self._fh.write(json.dumps(row) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def smoothed(self, key: str, window: int = 20) -> list[float]:
        vals = [r[key] for r in self.rows if key in r]
        return [float(np.mean(vals[max(0, i - window + 1): i + 1])) for i in range(len(vals))]


def plot_losses(rows: Iterable[dict[str, float]], keys: list[str], out: Path) -> None:
    """One panel per loss (log scale for FOM as in the paper's Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(rows)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps = [r["step"] for r in rows if key in r]
        vals = [r[key] for r in rows if key in r]
        ax.plot(steps, vals, lw=0.8)
        if key == "fom" and vals and min(vals) > 0:
            ax.set_yscale("log")
        ax.set_title(f"L_{key.upper()}")
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)



def plot_similarity(similarity: dict, out: Path) -> None:
    """Cosine-similarity matrices before/after pre-training, one column per modality pair (Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted(similarity.get("after", {}))
    if not pairs:
        return
    fig, axes = plt.subplots(2, len(pairs), figsize=(3.2 * len(pairs), 6.0), squeeze=False)
    for row, phase in enumerate(("before", "after")):
        for col, pair in enumerate(pairs):
            ax = axes[row][col]
            im = ax.imshow(np.array(similarity[phase][pair]["matrix"]), vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"{pair.replace('_', ' vs ')} ({phase})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.6)
    fig.savefig(out, dpi=110)
    plt.close(fig)
