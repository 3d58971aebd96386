"""Batched generation with a base, MSFT or PEFT model: left padding, KV cache, continuation only.

The one generation path for the CLI, evaluation and the web UI. Prompts are tokenized
exactly as training tokenizes them (:func:`formulaforge.training.data`-style: the chat
template's own special tokens, otherwise the tokenizer's; prompts are fitted to ``max_input``
by :func:`formulaforge.datasets.prompts.fit_prompt` before they get here, and the last
``max_input`` tokens are kept only as a guard for a prompt whose instruction alone is longer),
sorted by length so batches waste little padding, and only the newly generated tokens are
decoded, so nothing from the prompt can be mistaken for the model's answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from formulaforge.datasets.prompts import fit_prompt, has_chat_template


@dataclass(frozen=True)
class SamplingConfig:
    greedy: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 384
    seed: int = 0
    max_input: int = 512


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    seconds: float
    ids: tuple[int, ...] = ()  # the generated token ids (EOS and padding removed)


def _encode(tokenizer: Any, prompt: str, max_input: int) -> list[int]:
    ids = tokenizer(prompt, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]
    return ids[-max_input:]


def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    generate_kwargs: dict[str, Any] | None = None,
    gates: Sequence[bool] | None = None,
    gate_adapter: Any = None,
) -> list[Generation]:
    """Continuations for already-rendered ``prompts``, in their original order.

    ``generate_kwargs`` goes to ``model.generate`` as is. The seed is set once per call,
    so a run is reproducible for a fixed batch size. ``gates`` (one bool per prompt, e.g.
    from :func:`formulaforge.models.msft.router.route`) switch the MSFT plugins of
    ``gate_adapter`` on or off per row; they follow the rows through the length sorting.
    """
    import contextlib

    import torch

    if gates is not None and (gate_adapter is None or len(gates) != len(prompts)):
        raise ValueError("gates need a gate_adapter and one value per prompt")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(sampling.seed)
    encoded = [_encode(tokenizer, p, sampling.max_input) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[Generation | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                              "use_cache": True}
    if sampling.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
    kwargs.update(generate_kwargs or {})
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in idx)
        input_ids = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):  # left padding
            ids = encoded[i]
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        t0 = time.perf_counter()
        gate = gate_adapter.gated([bool(gates[i]) for i in idx]) if gates is not None else contextlib.nullcontext()
        with torch.inference_mode(), gate:
            out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
        elapsed = time.perf_counter() - t0
        new = out[:, width:]
        for row, i in enumerate(idx):
            tokens = new[row]
            if tokenizer.eos_token_id is not None:
                stops = (tokens == tokenizer.eos_token_id).nonzero()
                if len(stops):
                    tokens = tokens[: int(stops[0])]
            tokens = tokens[tokens != tokenizer.pad_token_id]
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            results[i] = Generation(text, int(tokens.numel()), elapsed / len(idx), tuple(tokens.tolist()))
        if on_batch:
            on_batch(len(idx))
    return [r for r in results if r is not None]


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
    batch_size: int = 8,
) -> list[str]:
    """Continuation texts for user messages (``render=True`` applies the prompt template)."""
    sampling = SamplingConfig(greedy=greedy, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, seed=0 if seed is None else seed)
    texts = [fit_prompt(p, tokenizer, sampling.max_input) if render else p for p in prompts]
    if seed is None:
        import torch

        sampling = replace(sampling, seed=int(torch.seed() % (2**31)))
    return [g.text for g in generate_batched(model, tokenizer, texts, sampling, batch_size)]


def stream_greedy(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, max_input: int = 512,
                  max_time: float | None = None) -> Iterator[str]:
    """The greedy continuation of one rendered ``prompt``, yielded as it grows (the web UI's
    streaming view). Same encoding and decoding settings as :func:`generate_batched`, so the
    final text equals its greedy output; transformers' ``TextIteratorStreamer`` hands over
    the decoded pieces while ``generate`` runs in a helper thread."""
    import threading

    import torch
    from transformers import TextIteratorStreamer

    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    ids = torch.tensor([_encode(tokenizer, prompt, max_input)], dtype=torch.long)
    device = next(model.parameters()).device
    # A timeout on the queue as well as max_time: a generate that dies or stalls never leaves the
    # page waiting on the streamer forever.
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=(float(max_time) + 60.0) if max_time else 600.0)
    kwargs: dict[str, Any] = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
                              "max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                              "do_sample": False, "temperature": None, "top_p": None, "top_k": None,
                              "use_cache": True, "streamer": streamer}
    if max_time:
        kwargs["max_time"] = float(max_time)

    failure: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
            failure.append(exc)
            streamer.end()  # wake the consumer: without it the loop below waits for the timeout

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    text = ""
    for piece in streamer:
        text += piece
        yield text
    worker.join()
    if failure:
        raise failure[0]
