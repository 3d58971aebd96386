"""Batched generation for evaluation: left padding, KV cache, continuation only.

One ``generate`` call per batch (not per sample) is what makes evaluating 5 runs over a
test split affordable; prompts are sorted by length so batches waste little padding.
Only the newly generated tokens are decoded, so nothing from the prompt (the context,
few-shot examples) can be mistaken for the model's answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    seconds: float


@dataclass(frozen=True)
class SamplingConfig:
    greedy: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 384
    seed: int = 0


def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    generate_kwargs: dict[str, Any] | None = None,
) -> list[Generation]:
    """Continuations for ``prompts`` in their original order.

    ``generate_kwargs`` is passed through to ``model.generate`` (e.g. an MSFT gate mask).
    The seed is set once per call, so a run is reproducible for a fixed batch size.
    """
    import torch

    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    torch.manual_seed(sampling.seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(device) for k, v in batch.items()}
            kwargs: dict[str, Any] = {
                "max_new_tokens": sampling.max_new_tokens,
                "pad_token_id": tokenizer.pad_token_id,
                "use_cache": True,
            }
            if sampling.greedy:
                kwargs["do_sample"] = False
            else:
                kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            kwargs.update(generate_kwargs or {})
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**batch, **kwargs)
            elapsed = time.perf_counter() - t0
            new = out[:, batch["input_ids"].shape[1] :]
            for row, i in enumerate(idx):
                tokens = new[row]
                if tokenizer.eos_token_id is not None:
                    stops = (tokens == tokenizer.eos_token_id).nonzero()
                    if len(stops):
                        tokens = tokens[: int(stops[0])]
                if tokenizer.pad_token_id is not None:
                    tokens = tokens[tokens != tokenizer.pad_token_id]
                results[i] = Generation(
                    tokenizer.decode(tokens, skip_special_tokens=True), int(tokens.numel()), elapsed / len(idx)
                )
            if on_batch:
                on_batch(len(idx))
    finally:
        tokenizer.padding_side = previous_side
    return [r for r in results if r is not None]
