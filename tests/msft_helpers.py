"""Tiny random causal LMs built in code (no downloads) for the MSFT tests and benchmark."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 96


def tiny_config(arch: str):  # noqa: ANN201 - returns a transformers config
    import transformers as tf

    common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=64, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    if arch == "llama":
        return tf.LlamaConfig(num_key_value_heads=2, **common)
    if arch == "mistral":
        return tf.MistralConfig(num_key_value_heads=2, sliding_window=None, **common)
    if arch == "qwen2":
        return tf.Qwen2Config(num_key_value_heads=2, **common)
    if arch == "gpt2":
        return tf.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                             pad_token_id=0, eos_token_id=1, bos_token_id=2)
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(**common)
    raise ValueError(arch)


def tiny_model(arch: str, seed: int = 0):  # noqa: ANN201
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch), dtype=torch.float32)
    return model.eval()


def save_tiny(arch: str, path: Path, seed: int = 0) -> Path:
    tiny_model(arch, seed).save_pretrained(path, safe_serialization=True)
    return path


def randomize_adapters(adapter, seed: int = 1, scale: float = 0.1) -> None:  # noqa: ANN001
    """Give every adapter matrix non-zero values so folding is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s in adapter.stages:
            for _, p in adapter.stage_parameters(s):
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def batch(n: int = 2, t: int = 7, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (n, t), generator=g)
