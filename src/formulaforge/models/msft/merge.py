"""Fold an MSFT model into its base weights and write a plain Hugging Face checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from formulaforge.models.msft.adapter import MSFTAdapter
from formulaforge.utils.atomic import atomic_dir, check_output


def merge_into_base(adapter: MSFTAdapter) -> Any:
    """W <- W + s L_up M L_down for every wrapped projection; returns the plain model."""
    return adapter.unwrap(merge=True)


MERGED_KIND = "merged-model"  # marker kind of a merged checkpoint folder (utils.atomic)


def save_merged(adapter: MSFTAdapter, tokenizer: Any, out_dir: str | Path, *, force: bool = False) -> Path:
    """Merge and ``save_pretrained`` (safetensors); the folder is a plain ``--model`` path.

    ``out_dir`` must be absent, empty or an earlier merged export unless ``force``.
    """
    out = Path(out_dir)
    check_output(out, MERGED_KIND, force=force, replaces=True)
    model = merge_into_base(adapter)
    if getattr(model.config, "quantization_config", None) is not None:
        model.config.quantization_config = None
    with atomic_dir(out, MERGED_KIND, force=force) as tmp:  # a crash never leaves a half-written checkpoint
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return out
