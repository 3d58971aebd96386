"""A tiny Llama written as a quantized GGUF in code, so the GGUF -> fp32 cache path is tested in
seconds instead of de-quantizing the packaged 135M model (a benchmark, not a unit test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_llama_gguf(path: Path, *, seed: int = 0) -> Path:
    """2 layers, hidden 64, byte-level BPE vocabulary; attention in Q8_0 and the MLP in Q4_1, the two
    quantizations of the packaged SmolLM2 GGUF (rows of 64 = two blocks of either)."""
    import gguf
    from conftest import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    backend = tok.backend_tokenizer
    vocab = backend.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    import json

    merges = [m if isinstance(m, str) else " ".join(m) for m in json.loads(backend.to_str())["model"]["merges"]]
    n_vocab, hidden, ffn, heads, layers = len(tokens), 64, 128, 4, 2
    rng = np.random.default_rng(seed)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(n_vocab)
    w.add_rope_dimension_count(hidden // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in ("<pad>", "</s>", "<s>") else gguf.TokenType.NORMAL
                       for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<s>"])
    w.add_eos_token_id(vocab["</s>"])
    w.add_pad_token_id(vocab["<pad>"])

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def quantized(name: str, array: np.ndarray, qtype: gguf.GGMLQuantizationType) -> None:
        data = gguf.quants.quantize(array, qtype)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)

    q8, q4 = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_1

    w.add_tensor("token_embd.weight", rand(n_vocab, hidden))
    w.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    w.add_tensor("output.weight", rand(n_vocab, hidden))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        for proj in ("attn_q", "attn_k", "attn_v", "attn_output"):
            quantized(f"blk.{i}.{proj}.weight", rand(hidden, hidden), q8)
        quantized(f"blk.{i}.ffn_gate.weight", rand(ffn, hidden), q4)
        quantized(f"blk.{i}.ffn_up.weight", rand(ffn, hidden), q4)
        quantized(f"blk.{i}.ffn_down.weight", rand(hidden, ffn), q4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
