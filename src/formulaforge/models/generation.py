"""Generate a continuation for a prompt with a base, MSFT or PEFT model."""

from __future__ import annotations

from typing import Any

import torch

from formulaforge.datasets.prompts import has_chat_template, render_prompt


@torch.no_grad()
def generate_continuations(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    greedy: bool = True,
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.95,
    render: bool = True,
    seed: int | None = None,
) -> list[str]:
    """Continuations only (the prompt tokens are cut off), batched with left padding."""
    if seed is not None:
        torch.manual_seed(seed)
    texts = [render_prompt(p, tokenizer) if render else p for p in prompts]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not has_chat_template(tokenizer))
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
    if greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    out = model.generate(**enc, **kwargs)
    new = out[:, enc["input_ids"].shape[1]:]
    return [tokenizer.decode(row, skip_special_tokens=True) for row in new]
