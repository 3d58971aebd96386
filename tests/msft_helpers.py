"""Tiny random causal LMs built in code (no downloads) for the MSFT tests and benchmark."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 96


def tiny_config(arch: str):
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


def tiny_model(arch: str, seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch), dtype=torch.float32)
    return model.eval()


def save_tiny(arch: str, path: Path, seed: int = 0) -> Path:
    tiny_model(arch, seed).save_pretrained(path, safe_serialization=True)
    return path


def randomize_adapters(adapter, seed: int = 1, scale: float = 0.1) -> None:
    """Give every adapter matrix non-zero values so folding is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s in adapter.stages:
            for _, p in adapter.stage_parameters(s):
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def batch(n: int = 2, t: int = 7, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (n, t), generator=g)


CORPUS = [
    r"The energy of a particle is $E = m c^2$ where m is the mass.",
    r"Let $f(x) = \frac{1}{1 + e^{-x}}$ be the logistic function.",
    r"The sum $\sum_{i=1}^{n} i = \frac{n(n+1)}{2}$ holds for all n.",
    r"We define the norm $\|x\|_2 = \sqrt{\sum_i x_i^2}$ of a vector.",
    "Write the formula that follows from the context.",
    "### Response:",
]


def tiny_tokenizer(vocab_size: int = VOCAB):
    """A character-level BPE tokenizer trained in memory (no downloads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<s>", "<unk>"])
    tok.train_from_iterator(CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>"
    )


def save_tiny_with_tokenizer(arch: str, path: Path, seed: int = 0) -> Path:
    save_tiny(arch, path, seed)
    tiny_tokenizer().save_pretrained(path)
    return path


def write_stage_data(root: Path, n: int = 6) -> Path:
    """STAGES_DIR/stage{1,2,3}/{train,valid,test}.jsonl fixtures with the real field names."""
    from formulaforge.utils.jsonl import write_jsonl

    formulas = [r"$E = m c^2$", r"$f(x) = \frac{1}{1 + e^{-x}}$", r"$\|x\|_2 = \sqrt{\sum_i x_i^2}$"]
    for stage in (1, 2, 3):
        for split, k in (("train", n), ("valid", 2), ("test", 2)):
            rows = [
                {"id": f"s{stage}-{split}-{i}", "input": f"{CORPUS[i % 4]} Write the formula.", "label": formulas[i % 3]}
                for i in range(k)
            ]
            write_jsonl(root / f"stage{stage}" / f"{split}.jsonl", rows)
    return root
