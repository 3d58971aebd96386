"""Save each MSFT stage on its own (safetensors + JSON) and compose them at load time.

A run folder holds every stage up to the one it trained, each in its own sub-folder::

    RUN_DIR/msft.json                     base model, base fingerprint, MSFT config, stages
    RUN_DIR/stage1/adapter_config.json    a plain PEFT LoRA (loads with PeftModel as is)
    RUN_DIR/stage1/adapter_model.safetensors
    RUN_DIR/stage2/plugin.safetensors     D_down / D_up per layer
    RUN_DIR/stage3/plugin.safetensors     Q_down / Q_up per layer

Earlier stages are copied into later runs (they are small), so a run folder is
self-contained and can be moved; with joint learning they hold the re-trained weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from formulaforge.models.msft.adapter import MSFTAdapter
from formulaforge.models.msft.config import MSFTConfig
from formulaforge.models.weights import load_safetensors
from formulaforge.utils.atomic import atomic_dir, atomic_open, write_json_atomic

FORMAT = "formulaforge-msft"
FORMAT_VERSION = 1
META_FILE = "msft.json"
RUN_KIND = "msft-run"  # marker kinds (utils.atomic): a training run folder, a folded LoRA export
LORA_EXPORT_KIND = "lora-export"
PEFT_PREFIX = "base_model.model."

FINGERPRINT_KEYS = (
    "model_type", "hidden_size", "n_embd", "d_model", "num_hidden_layers", "n_layer", "num_attention_heads",
    "n_head", "num_key_value_heads", "head_dim", "intermediate_size", "n_inner", "vocab_size",
    "max_position_embeddings", "n_positions", "tie_word_embeddings", "rms_norm_eps", "layer_norm_epsilon",
)


class RunError(ValueError):
    """A run folder that cannot be composed onto this model."""


def base_fingerprint(model: nn.Module) -> dict[str, Any]:
    """Architecture fields of the base config and their hash (names/dtypes/paths excluded)."""
    cfg = model.config.to_dict()  # type: ignore[union-attr]
    fields = {k: cfg[k] for k in FINGERPRINT_KEYS if k in cfg and cfg[k] is not None}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return {"sha256_16": digest, "fields": fields}


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def peft_target_names(model: nn.Module, layer_names: list[str]) -> list[str]:
    """Shortest name suffixes that make peft's matching pick exactly ``layer_names``.

    peft matches a module when its path equals a target or ends with ``"." + target``; the
    leaf name is enough for Llama (``q_proj``) but not for GPT-2, where ``c_proj`` is also the
    MLP output, so there the suffix grows to ``attn.c_proj``.
    """
    wanted = set(layer_names)
    inside = tuple(n + "." for n in wanted)
    others = [n for n, _ in model.named_modules() if n and n not in wanted and not n.startswith(inside)]
    names: set[str] = set()
    for name in layer_names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if not any(o == suffix or o.endswith("." + suffix) for o in others):
                names.add(suffix)
                break
    return sorted(names)


def peft_adapter_config(adapter: MSFTAdapter, base_name: str) -> dict[str, Any]:
    """adapter_config.json of a PEFT LoRA with the same r, alpha, dropout and targets."""
    cfg = adapter.config
    fan_in_fan_out = any(layer.fan_in_fan_out for layer in adapter.layers.values())
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_name,
        "r": cfg.r1,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": peft_target_names(adapter.model, sorted(adapter.layers)),
        "fan_in_fan_out": fan_in_fan_out,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "modules_to_save": None,
        "rank_pattern": {},
        "alpha_pattern": {},
    }


def save_peft_lora(out_dir: Path, a_b: dict[str, torch.Tensor], adapter: MSFTAdapter, base_name: str) -> None:
    """Write a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {PEFT_PREFIX + k: v.contiguous() for k, v in a_b.items()}
    _save_tensors(out_dir / "adapter_model.safetensors", tensors, {"format": "pt"})
    write_json_atomic(out_dir / "adapter_config.json", peft_adapter_config(adapter, base_name))


def save_run(run_dir: str | Path, adapter: MSFTAdapter, base_name: str, extra: dict[str, Any] | None = None) -> Path:
    """Write every inserted stage and ``msft.json``."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    for stage in adapter.stages:
        tensors = adapter.stage_state_dict(stage)
        if stage == 1:
            save_peft_lora(run / "stage1", tensors, adapter, base_name)
        else:
            _save_tensors(run / f"stage{stage}" / "plugin.safetensors", tensors, {"format": "pt", "stage": str(stage)})
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "base_model": base_name,
        "base_fingerprint": base_fingerprint(adapter.model),
        "stages": list(adapter.stages),
        "layers": sorted(adapter.layers),
        "msft": adapter.config.to_dict(),
        **(extra or {}),
    }
    write_json_atomic(run / META_FILE, meta)
    return run


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / META_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not an MSFT run folder (no {META_FILE})")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise RunError(f"{path}: not a {FORMAT} file")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise RunError(f"{path}: written by a newer FormulaForge (format {meta['version']})")
    stages = meta.get("stages") or []
    if stages != list(range(1, len(stages) + 1)):
        raise RunError(f"{path}: stages {stages} are not a prefix of [1, 2, 3] (stage III needs stage II)")
    return meta


def check_base(meta: dict[str, Any], model: nn.Module, run_dir: str | Path) -> None:
    want = meta["base_fingerprint"]
    have = base_fingerprint(model)
    if want["sha256_16"] != have["sha256_16"]:
        diff = {
            k: (want["fields"].get(k), have["fields"].get(k))
            for k in set(want["fields"]) | set(have["fields"])
            if want["fields"].get(k) != have["fields"].get(k)
        }
        raise RunError(
            f"{run_dir} was trained on a different base model ({meta.get('base_model')}); "
            f"config differs in {', '.join(f'{k}: run {a!r} vs model {b!r}' for k, (a, b) in sorted(diff.items()))}"
        )


def load_run(
    model: nn.Module, run_dir: str | Path, *, upto: int | None = None, config: MSFTConfig | None = None
) -> MSFTAdapter:
    """Compose base + stage I (+ II (+ III)) from a run folder onto ``model`` (in place)."""
    run = Path(run_dir)
    meta = read_meta(run)
    check_base(meta, model, run)
    cfg = config or MSFTConfig.from_dict(meta["msft"])
    stages = [s for s in meta["stages"] if upto is None or s <= upto]
    if upto is not None and upto not in meta["stages"]:
        raise RunError(f"{run} has stages {meta['stages']}, not stage {upto}")
    adapter = MSFTAdapter.inject(model, cfg, stages)
    if sorted(adapter.layers) != sorted(meta["layers"]):
        raise RunError(f"{run}: its layers do not match the projections found in this model")
    for stage in stages:
        if stage == 1:
            raw = load_safetensors(run / "stage1" / "adapter_model.safetensors")
            tensors = {k.removeprefix(PEFT_PREFIX): v for k, v in raw.items()}
        else:
            path = run / f"stage{stage}" / "plugin.safetensors"
            if not path.is_file():
                raise RunError(f"{run}: stage {stage} listed but {path.name} missing")
            tensors = load_safetensors(path)
        adapter.load_stage_state_dict(stage, tensors)
    return adapter


def folded_lora_tensors(adapter: MSFTAdapter) -> dict[str, torch.Tensor]:
    """The whole nested adapter as a plain rank-r1 LoRA: A = L_down, B' = L_up M."""
    out: dict[str, torch.Tensor] = {}
    for name, layer in adapter.layers.items():
        a, b = layer.folded_lora()
        out[f"{name}.lora_A.weight"] = a.cpu().contiguous()
        out[f"{name}.lora_B.weight"] = b.cpu().contiguous()
    return out


def export_lora(adapter: MSFTAdapter, out_dir: str | Path, base_name: str, *, force: bool = False) -> Path:
    """Write the folded LoRA; ``out_dir`` must be absent, empty or an earlier export unless ``force``."""
    out = Path(out_dir)
    with atomic_dir(out, LORA_EXPORT_KIND, force=force) as tmp:
        _write_folded(tmp, adapter, base_name)
    return out


def _write_folded(out: Path, adapter: MSFTAdapter, base_name: str) -> None:
    save_peft_lora(out, folded_lora_tensors(adapter), adapter, base_name)
    readme = (
        f"# Folded MSFT adapter\n\nStages {list(adapter.stages)} of an MSFT run folded into one plain PEFT LoRA "
        f"of rank {adapter.config.r1} (B' = L_up M, A = L_down). Base model: `{base_name}`.\n"
    )
    with atomic_open(out / "README.md") as fh:
        fh.write(readme)
