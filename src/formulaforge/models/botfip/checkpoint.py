"""Save/load a Botfip-LLM model: ``model.safetensors`` + ``config.json`` (+ teacher info).

Weights only through safetensors (no pickles). The queues are buffers and are saved too,
so pre-training can resume with its negatives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from formulaforge.models.botfip.config import BotfipConfig
from formulaforge.models.botfip.model import BotfipLLM
from formulaforge.utils.atomic import write_json_atomic

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_model(model: BotfipLLM, cfg: BotfipConfig, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = out / (WEIGHTS + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(out / WEIGHTS)
    teacher_dim = model.embedder.mlp[1].in_features if model.embedder is not None else None
    write_json_atomic(out / CONFIG, {"config": cfg.to_dict(), "teacher_dim": teacher_dim, **(extra or {})})
    return out


def load_model(run_dir: str | Path, device: str | torch.device = "auto"
               ) -> tuple[BotfipLLM, BotfipConfig, dict[str, Any]]:
    """(model on ``device``, config, run metadata); ``auto`` = CUDA when available, else CPU."""
    from formulaforge.models.botfip.device import resolve_device

    device = resolve_device(device)
    run = Path(run_dir)
    meta_path = run / CONFIG
    if not meta_path.is_file() or not (run / WEIGHTS).is_file():
        raise FileNotFoundError(f"{run} is not a Botfip run directory (needs {CONFIG} and {WEIGHTS})")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    cfg = BotfipConfig.from_dict({"preset": "paper", **meta["config"]})
    model = BotfipLLM(cfg.model, cfg.loss, meta.get("teacher_dim"))
    missing, unexpected = model.load_state_dict(load_file(str(run / WEIGHTS), device="cpu"), strict=False)
    if missing or unexpected:
        raise ValueError(f"{run / WEIGHTS} does not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device), cfg, meta
