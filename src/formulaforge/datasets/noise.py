"""Token-level corruption for the optional stage-II denoising variant.

The corrupted formula is written with its tokens separated by spaces, so masks and moved
tokens stay visible as units.

Deterministic per record (seeded by the record id), so a rebuilt dataset is identical.
"""

from __future__ import annotations

import random
import zlib

from formulaforge.formula import tokenize

MASK_TOKEN = "<mask>"


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(seed * 1_000_003 + zlib.crc32(key.encode("utf-8")))


def mask_tokens(latex: str, prob: float, *, seed: int = 0, key: str = "", mask: str = MASK_TOKEN) -> str:
    """Replace each token with ``mask`` with probability ``prob`` (at least one when possible)."""
    tokens = tokenize(latex)
    if not tokens:
        return latex
    rng = _rng(seed, key)
    chosen = [i for i in range(len(tokens)) if rng.random() < prob] or [rng.randrange(len(tokens))]
    for i in chosen:
        tokens[i] = mask
    return " ".join(tokens)


def shuffle_tokens(latex: str, prob: float, *, seed: int = 0, key: str = "", window: int = 3) -> str:
    """Move a ``prob`` share of tokens by up to ``window`` places (local shuffle)."""
    tokens = tokenize(latex)
    if len(tokens) < 2:
        return latex
    rng = _rng(seed, key)
    n_moves = max(1, round(prob * len(tokens)))
    for _ in range(n_moves):
        i = rng.randrange(len(tokens))
        j = min(len(tokens) - 1, max(0, i + rng.randint(-window, window)))
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens)
