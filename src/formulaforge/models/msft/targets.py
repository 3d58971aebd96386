"""Find the attention projections to wrap, by architecture or by a user-given list.

Names are matched like peft's ``target_modules``: a module matches ``name`` when its full
path equals it or ends with ``"." + name``; this is what keeps the stage-I weights a valid
PEFT LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    # W_q, W_k, W_v, W_o as in the paper (App. C).
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mixtral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen3": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma3_text": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "olmo": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "olmo2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "granite": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "phi": ("q_proj", "k_proj", "v_proj", "self_attn.dense"),
    "phi3": ("qkv_proj", "o_proj"),
    # GPT-2 keeps q, k, v fused in one Conv1D (weight stored transposed: in x out).
    "gpt2": ("attn.c_attn", "attn.c_proj"),
    # GPT-NeoX fuses q, k, v in one Linear.
    "gpt_neox": ("attention.query_key_value", "attention.dense"),
    "falcon": ("self_attention.query_key_value", "self_attention.dense"),
}


class TargetError(ValueError):
    """No usable projection for the requested targets; raised before any training."""


@dataclass(frozen=True)
class Target:
    name: str
    in_features: int
    out_features: int
    fan_in_fan_out: bool  # True for GPT-2's Conv1D, whose weight is (in, out)


def _is_conv1d(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def projection_shape(module: nn.Module) -> tuple[int, int, bool] | None:
    """(in, out, fan_in_fan_out) of a wrappable projection, or None."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, False
    if _is_conv1d(module):
        in_f, out_f = module.weight.shape
        return int(in_f), int(out_f), True
    # bitsandbytes Linear4bit / Linear8bitLt subclass nn.Linear, so they are covered above.
    return None


def _matches(full_name: str, pattern: str) -> bool:
    return full_name == pattern or full_name.endswith("." + pattern)


def default_targets(model_type: str) -> list[str]:
    try:
        return list(DEFAULT_TARGETS[model_type])
    except KeyError:
        raise TargetError(
            f"no default attention projections known for model_type {model_type!r}; pass targets "
            f"explicitly (known architectures: {', '.join(sorted(DEFAULT_TARGETS))})"
        ) from None


def find_targets(model: nn.Module, names: list[str] | None = None) -> list[Target]:
    """All projections to wrap, in module order. Raises :class:`TargetError` when a name matches nothing."""
    model_type = getattr(getattr(model, "config", None), "model_type", "?")
    wanted = list(names) if names else default_targets(model_type)
    hits: dict[str, list[Target]] = {w: [] for w in wanted}
    found: list[Target] = []
    for full, module in model.named_modules():
        matched = [w for w in wanted if _matches(full, w)]
        if not matched:
            continue
        shape = projection_shape(module)
        if shape is None:
            raise TargetError(
                f"{full} matches target {matched[0]!r} but is a {type(module).__name__}, not a Linear/Conv1D projection"
            )
        t = Target(full, *shape)
        found.append(t)
        for w in matched:
            hits[w].append(t)
    missing = [w for w, h in hits.items() if not h]
    if missing:
        leaves = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if projection_shape(m) is not None}
        )
        raise TargetError(
            f"target module(s) {', '.join(map(repr, missing))} match no projection in this {model_type} model; "
            f"projection names present: {', '.join(leaves) or 'none'}"
        )
    return found
